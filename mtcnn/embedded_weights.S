/* The converted weights (weights/{pnet,rnet,onet}.bin), assembled into the binary so that it
   needs no file beside it. 64-byte alignment keeps the tensor data (aligned
   to 64 inside each file) aligned in memory too. */
#define EMBED(name, file)        \
    .section .rodata;            \
    .balign 64;                  \
    .global name;                \
name:                            \
    .incbin file;                \
    .global name##_end;          \
name##_end:

EMBED(face_weights_pnet, "pnet.bin")
EMBED(face_weights_rnet, "rnet.bin")
EMBED(face_weights_onet, "onet.bin")

/* No executable stack. */
    .section .note.GNU-stack,"",@progbits
