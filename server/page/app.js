// The page at `/` (server/assets.h): a photo is sent once to POST /api/detect
// at a low confidence (FLOOR), in the mode chosen (sent again when the mode
// changes), and the faces are drawn here from the JSON
// ([{"box": [x, y, w, h], "confidence": c, "keypoints": {...}}], see
// mtcnn/face_json.h). The slider only filters that answer: asking the service
// again at the slider's value would give the same faces, since ONet's
// threshold drops faces after scoring and a face below it never suppresses a
// better one in the final non-maximum suppression.
//
// No inline code or style anywhere (the page is served with a strict CSP);
// the state is mirrored in data-* attributes on #result for the browser test
// (tests/browser/page_test.mjs): data-state (idle, detecting, done, error),
// data-faces-detected, data-faces-shown, and data-faces-drawn once the canvas
// shows them (the photo may finish loading after the answer).
//
// The API key field: when filled, its value goes with each detection as
// X-API-Key (server/access.h); it is never stored, so a reload forgets it.
//
// The Anonymize button sends the photo on show to POST /api/anonymize at the
// slider's confidence and the chosen mode (so the faces blurred are those
// shown) and saves the answer through a temporary link to a blob: URL, with
// the file name of its Content-Disposition. #result's data-anonymize says
// how it went (working, done, error) for the browser test.

const FLOOR = 0.5;  // the slider's minimum: nothing below it is asked for
const KEYPOINTS = ['left_eye', 'right_eye', 'nose', 'mouth_left', 'mouth_right'];
const BOX_COLOUR = '#d1006b';
const POINT_COLOUR = '#005fcc';

const fileInput = document.getElementById('file');
const modeSelect = document.getElementById('mode');
const apiKeyInput = document.getElementById('api-key');
const drop = document.getElementById('drop');
const slider = document.getElementById('confidence');
const sliderValue = document.getElementById('confidence-value');
const statusLine = document.getElementById('status');
const errorLine = document.getElementById('error');
const result = document.getElementById('result');
const photo = document.getElementById('photo');
const overlay = document.getElementById('overlay');
const faceList = document.getElementById('faces');
const anonymizeButton = document.getElementById('anonymize');

document.getElementById('floor').textContent = FLOOR.toFixed(2);
slider.min = String(FLOOR);

let faces = [];           // the last answer, every face down to FLOOR
let photoUrl = null;      // object URL of the photo on show
let controller = null;    // aborts a detection still running when another photo comes
let lastFile = null;      // sent again when the mode changes

// Confidences are shown rounded down, so a label never reads higher than a
// slider value that hides the face.
const formatConfidence = (c) => (Math.floor(c * 1000) / 1000).toFixed(3);
const threshold = () => Number(slider.value);

function setState(state) {
    result.dataset.state = state;
}

function showError(message) {
    errorLine.textContent = message;
    errorLine.hidden = false;
    statusLine.textContent = 'No faces to show.';
    result.hidden = true;
    setState('error');
}

// The query of a detection: the mode only when one is chosen, so that the
// service's configured default applies otherwise.
function detectUrl() {
    return `/api/detect?${modeQuery()}confidence=${FLOOR}`;
}

// The query of a detection or an anonymisation: the mode only when one is
// chosen.
function modeQuery() {
    return modeSelect.value ? `mode=${encodeURIComponent(modeSelect.value)}&` : '';
}

function requestHeaders(file) {
    const headers = { 'Content-Type': file.type || 'application/octet-stream' };
    const key = apiKeyInput.value.trim();
    if (key) headers['X-API-Key'] = key;
    return headers;
}

// The filename="..." of a Content-Disposition, or `fallback`.
function attachmentName(disposition, fallback) {
    const match = /filename="([^"]+)"/.exec(disposition || '');
    return match ? match[1] : fallback;
}

async function anonymize() {
    const file = lastFile;
    if (!file) return;
    anonymizeButton.disabled = true;
    result.dataset.anonymize = 'working';
    statusLine.textContent = 'Blurring the faces…';
    try {
        const response = await fetch(`/api/anonymize?${modeQuery()}confidence=${threshold()}`, {
            method: 'POST',
            headers: requestHeaders(file),
            body: file,
        });
        if (!response.ok) {
            let detail = response.statusText || 'no detail';
            try {
                const body = await response.json();
                if (typeof body.detail === 'string') detail = body.detail;
            } catch (e) { /* not JSON: the status text */ }
            throw new Error(`HTTP ${response.status}: ${detail}`);
        }
        const blob = await response.blob();
        const name = attachmentName(response.headers.get('Content-Disposition'), 'anonymized');
        const url = URL.createObjectURL(blob);
        const link = document.createElement('a');
        link.href = url;
        link.download = name;
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);  // once the download has read it
        const count = Number(response.headers.get('X-Face-Count') || 0);
        statusLine.textContent = `Saved ${name} with ${count} ${count === 1 ? 'face' : 'faces'} blurred.`;
        result.dataset.anonymize = 'done';
    } catch (e) {
        errorLine.textContent = `The photo could not be anonymized (${e.message}).`;
        errorLine.hidden = false;
        result.dataset.anonymize = 'error';
    } finally {
        anonymizeButton.disabled = !lastFile;
    }
}

async function detect(file) {
    lastFile = file;
    anonymizeButton.disabled = false;
    delete result.dataset.anonymize;
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;

    faces = [];
    errorLine.hidden = true;
    errorLine.textContent = '';
    faceList.replaceChildren();
    overlay.getContext('2d').clearRect(0, 0, overlay.width, overlay.height);  // the last photo's boxes
    result.dataset.facesDetected = '0';
    result.dataset.facesShown = '0';
    delete result.dataset.facesDrawn;
    setState('detecting');
    statusLine.textContent = `Looking for faces in ${file.name || 'the photo'}…`;

    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = URL.createObjectURL(file);
    photo.src = photoUrl;  // shown lightened; the boxes follow once the answer comes
    result.hidden = false;

    let response;
    let body = null;
    try {
        response = await fetch(detectUrl(), {
            method: 'POST',
            headers: requestHeaders(file),
            body: file,
            signal,
        });
        try {
            body = await response.json();
        } catch (e) {
            if (signal.aborted) return;
            body = null;  // not JSON: reported below from the status
        }
    } catch (e) {
        if (signal.aborted) return;
        showError(`Network error: the service could not be reached (${e.message}).`);
        return;
    }
    if (signal.aborted) return;
    if (!response.ok) {
        const detail = body && typeof body.detail === 'string' ? body.detail : response.statusText || 'no detail';
        showError(`The service could not check this photo (HTTP ${response.status}): ${detail}`);
        return;
    }
    if (!Array.isArray(body)) {
        showError('The service sent an answer this page does not understand.');
        return;
    }
    faces = body;
    setState('done');
    render();
}

function render() {
    const t = threshold();
    sliderValue.textContent = t.toFixed(2);
    if (result.dataset.state !== 'done') return;

    const shown = faces.filter((f) => f.confidence >= t);
    result.dataset.facesDetected = String(faces.length);
    result.dataset.facesShown = String(shown.length);
    const noun = faces.length === 1 ? 'face' : 'faces';
    statusLine.textContent = faces.length === 0
        ? `No face found (down to confidence ${FLOOR.toFixed(2)}).`
        : `Showing ${shown.length} of ${faces.length} ${noun} found (confidence at least ${t.toFixed(2)}).`;

    faceList.replaceChildren(...shown.map((f, i) => {
        const [x, y, w, h] = f.box;
        const item = document.createElement('li');
        item.dataset.confidence = String(f.confidence);
        item.dataset.box = f.box.join(',');
        item.textContent = `Face ${i + 1}: confidence ${formatConfidence(f.confidence)}, `
            + `${w} × ${h} pixels at (${x}, ${y})`;
        return item;
    }));
    draw(shown);
}

// Boxes, keypoints and labels on the transparent canvas over the photo, in the
// photo's pixels; line widths are scaled so they look the same at any size.
function draw(shown) {
    const ctx = overlay.getContext('2d');
    if (!photo.naturalWidth) return;  // not loaded yet, or not a photo the browser can show
    if (overlay.width !== photo.naturalWidth) overlay.width = photo.naturalWidth;
    if (overlay.height !== photo.naturalHeight) overlay.height = photo.naturalHeight;
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const unit = overlay.width / (overlay.clientWidth || overlay.width);  // photo pixels per CSS pixel

    ctx.font = `bold ${Math.round(13 * unit)}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    for (const f of shown) {
        const [x, y, w, h] = f.box;
        ctx.lineWidth = 2 * unit;
        ctx.strokeStyle = BOX_COLOUR;
        ctx.strokeRect(x, y, w, h);

        const label = formatConfidence(f.confidence);
        const pad = 3 * unit;
        const labelHeight = 13 * unit + 2 * pad;
        const labelWidth = ctx.measureText(label).width + 2 * pad;
        const labelY = y - labelHeight >= 0 ? y - labelHeight : y;  // above the box, or inside at the top edge
        ctx.fillStyle = BOX_COLOUR;
        ctx.fillRect(x - ctx.lineWidth / 2, labelY, labelWidth, labelHeight);
        ctx.fillStyle = '#fff';
        ctx.fillText(label, x - ctx.lineWidth / 2 + pad, labelY + pad);

        for (const name of KEYPOINTS) {
            const point = f.keypoints?.[name];
            if (!point) continue;
            ctx.beginPath();
            ctx.arc(point[0], point[1], 2.5 * unit, 0, 2 * Math.PI);
            ctx.fillStyle = POINT_COLOUR;
            ctx.fill();
            ctx.lineWidth = unit;
            ctx.strokeStyle = '#fff';
            ctx.stroke();
        }
    }
    result.dataset.facesDrawn = String(shown.length);
}

fileInput.addEventListener('change', () => {
    if (fileInput.files.length > 0) detect(fileInput.files[0]);
});
slider.addEventListener('input', render);
anonymizeButton.addEventListener('click', anonymize);
modeSelect.addEventListener('change', () => {
    if (lastFile) detect(lastFile);
});
window.addEventListener('resize', render);
photo.addEventListener('load', render);
photo.addEventListener('error', () => {
    // The service decides whether it is a photo; if it found faces in one the
    // browser cannot show, they are still listed.
    if (result.dataset.state !== 'error') photo.removeAttribute('src');
});

// Drag and drop: anywhere on the page, so a photo dropped beside the box is
// not opened by the browser in place of the page.
document.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) drop.classList.remove('dragging');
});
document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    const file = e.dataTransfer?.files?.[0];
    if (!file) {
        showError('Nothing to check: drop a photo file.');
        return;
    }
    // The file picker then names the photo on show, as if it had been picked.
    const picked = new DataTransfer();
    picked.items.add(file);
    fileInput.files = picked.files;
    detect(file);
});

render();
