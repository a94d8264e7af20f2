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
// Several photos at once (picked together, or dropped together) go in one
// request to POST /api/detect/batch, a multipart form with one `image` file
// per photo, at the same floor, mode and key; the answer has one entry per
// photo, in order: {"name", "faces"} or {"name", "error": {"status",
// "detail"}} (README.md). #batch lists them, each photo with its face count at
// the slider's value as a button that shows it (the first one with faces is
// shown at once), each failed one with its error as text; the photo chosen is
// drawn from that answer, never sent again, exactly as a single photo is. A
// refusal of the whole batch (413 past the service's max_batch, 400 past the
// 64 form parts any multipart body may hold, 401, ...) is an error in words,
// with the service's detail. Mirrored on #result: data-batch-state (idle: one
// photo or none; sending, done, error), data-batch-photos (the entries of the
// answer on show, 0 otherwise) and data-batch-chosen (the index of the entry
// on show, absent when none); on each #batch-list item data-name, and either
// data-faces-detected and data-faces-shown (as on #result) or data-error (the
// entry's HTTP status).
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
const batchSection = document.getElementById('batch');
const batchSummary = document.getElementById('batch-summary');
const batchList = document.getElementById('batch-list');

document.getElementById('floor').textContent = FLOOR.toFixed(2);
slider.min = String(FLOOR);

let faces = [];           // the last answer, every face down to FLOOR
let photoUrl = null;      // object URL of the photo on show
let controller = null;    // aborts a detection still running when another photo comes
let lastFile = null;      // the photo on show: sent again when the mode changes, and anonymized
let batchFiles = [];      // the photos of the batch last sent (sent again when the mode changes), or none
let batchEntries = [];    // its answer, one entry per photo, in order
let chosen = -1;          // the index of the batch entry on show

// Confidences are shown rounded down, so a label never reads higher than a
// slider value that hides the face.
const formatConfidence = (c) => (Math.floor(c * 1000) / 1000).toFixed(3);
const threshold = () => Number(slider.value);

function setState(state) {
    result.dataset.state = state;
}

const plural = (n, noun) => `${n} ${n === 1 ? noun : `${noun}s`}`;

function showError(message) {
    errorLine.textContent = message;
    errorLine.hidden = false;
    statusLine.textContent = 'No faces to show.';
    result.hidden = true;
    setState('error');
}

// The query of a detection: the mode only when one is chosen, so that the
// service's configured default applies otherwise.
function detectUrl(path = '/api/detect') {
    return `${path}?${modeQuery()}confidence=${FLOOR}`;
}

// The query of a detection or an anonymisation: the mode only when one is
// chosen.
function modeQuery() {
    return modeSelect.value ? `mode=${encodeURIComponent(modeSelect.value)}&` : '';
}

function keyHeaders() {
    const key = apiKeyInput.value.trim();
    return key ? { 'X-API-Key': key } : {};
}

function requestHeaders(file) {
    return { 'Content-Type': file.type || 'application/octet-stream', ...keyHeaders() };
}

// The service's words for a refusal: the JSON `detail`, or the status text.
function errorDetail(response, body) {
    return body && typeof body.detail === 'string' ? body.detail : response.statusText || 'no detail';
}

// POSTs and reads the answer as JSON: {response, body}, body null when the
// answer is not JSON; null once aborted. A network failure throws.
async function post(url, headers, body, signal) {
    try {
        const response = await fetch(url, { method: 'POST', headers, body, signal });
        let json = null;
        try {
            json = await response.json();
        } catch (e) { /* not JSON: reported from the status */ }
        return signal.aborted ? null : { response, body: json };
    } catch (e) {
        if (signal.aborted) return null;
        throw e;
    }
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
            let body = null;
            try {
                body = await response.json();
            } catch (e) { /* not JSON: the status text */ }
            throw new Error(`HTTP ${response.status}: ${errorDetail(response, body)}`);
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

// One photo picked or dropped goes to /api/detect, several to the batch.
function detectFiles(files) {
    if (files.length === 1) detect(files[0]);
    else if (files.length > 1) detectBatch(files);
}

// Forgets the faces and the error on show and aborts the detection still
// running: the signal is the new one's.
function startDetection() {
    controller?.abort();
    controller = new AbortController();
    delete result.dataset.anonymize;
    errorLine.hidden = true;
    errorLine.textContent = '';
    clearFaces();
    setState('detecting');
    return controller.signal;
}

function clearFaces() {
    faces = [];
    faceList.replaceChildren();
    overlay.getContext('2d').clearRect(0, 0, overlay.width, overlay.height);  // the last photo's boxes
    result.dataset.facesDetected = '0';
    result.dataset.facesShown = '0';
    delete result.dataset.facesDrawn;
}

// The photo on show, lightened; the boxes follow once it has loaded.
function showPhoto(file) {
    lastFile = file;
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = URL.createObjectURL(file);
    photo.src = photoUrl;
    result.hidden = false;
}

function setBatchState(state) {
    result.dataset.batchState = state;
}

// Back to no batch: the list is hidden and empty.
function endBatch() {
    batchFiles = [];
    batchEntries = [];
    chosen = -1;
    batchList.replaceChildren();
    batchSection.hidden = true;
    setBatchState('idle');
    result.dataset.batchPhotos = '0';
    delete result.dataset.batchChosen;
}

async function detect(file) {
    const signal = startDetection();
    endBatch();
    anonymizeButton.disabled = false;
    statusLine.textContent = `Looking for faces in ${file.name || 'the photo'}…`;
    showPhoto(file);  // the boxes follow once the answer comes

    let answer;
    try {
        answer = await post(detectUrl(), requestHeaders(file), file, signal);
    } catch (e) {
        showError(`Network error: the service could not be reached (${e.message}).`);
        return;
    }
    if (!answer) return;  // aborted: another photo came
    const { response, body } = answer;
    if (!response.ok) {
        showError(`The service could not check this photo (HTTP ${response.status}): ${errorDetail(response, body)}`);
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

// An entry of the batch answer: its name and either its faces or its error.
function validEntry(entry) {
    return entry !== null && typeof entry === 'object' && typeof entry.name === 'string'
        && (Array.isArray(entry.faces) || (typeof entry.error === 'object' && entry.error !== null));
}

// Several photos in one request; `keep` is the index of the entry to show
// again when the same photos are sent in another mode.
async function detectBatch(files, keep = -1) {
    const signal = startDetection();
    endBatch();
    batchFiles = files;
    lastFile = null;
    anonymizeButton.disabled = true;  // until a photo of the batch is on show
    result.hidden = true;
    setBatchState('sending');
    statusLine.textContent = `Looking for faces in ${files.length} photos…`;

    const form = new FormData();
    for (const file of files) form.append('image', file, file.name);
    let answer;
    try {
        // No Content-Type here: the browser writes the form's, with its boundary.
        answer = await post(detectUrl('/api/detect/batch'), keyHeaders(), form, signal);
    } catch (e) {
        showBatchError(`Network error: the service could not be reached (${e.message}).`);
        return;
    }
    if (!answer) return;
    const { response, body } = answer;
    if (!response.ok) {
        // 413: more photos than the service's max_batch, or a body over its limit.
        const advice = response.status === 413 ? ' Choose fewer photos, or send them in smaller groups.' : '';
        showBatchError(`The service could not check these ${files.length} photos together `
            + `(HTTP ${response.status}): ${errorDetail(response, body)}.${advice}`);
        return;
    }
    if (!Array.isArray(body) || body.length !== files.length || !body.every(validEntry)) {
        showBatchError('The service sent an answer this page does not understand.');
        return;
    }

    batchEntries = body;
    result.dataset.batchPhotos = String(body.length);
    batchList.replaceChildren(...body.map(batchItem));
    const failed = body.filter((entry) => !entry.faces).length;
    batchSummary.textContent = failed === 0
        ? `${files.length} photos checked; choose one to see its faces.`
        : `${files.length} photos checked, ${failed} of them could not be; choose one to see its faces.`;
    batchSection.hidden = false;
    setBatchState('done');

    const first = body.findIndex((entry) => entry.faces);
    if (body[keep]?.faces) choose(keep);
    else if (first >= 0) choose(first);
    else {
        statusLine.textContent = `None of the ${files.length} photos could be checked; the list says why.`;
        setState('error');
    }
}

function showBatchError(message) {
    showError(message);
    setBatchState('error');
}

// A batch photo's file name, as the answer gives it back.
const entryName = (i) => batchEntries[i].name || `photo ${i + 1}`;

// A list item: a button that shows the photo, or the photo's error in words.
function batchItem(entry, i) {
    const item = document.createElement('li');
    item.dataset.name = entry.name;
    const name = entryName(i);
    if (entry.faces) {
        const button = document.createElement('button');
        button.type = 'button';
        button.addEventListener('click', () => choose(i));
        item.append(button);  // its text, the face count at the slider's value, is written by render()
    } else {
        const { status, detail } = entry.error;
        item.dataset.error = String(status);
        item.classList.add('failed');
        item.textContent = `${name}: not checked (HTTP ${status}: ${typeof detail === 'string' ? detail : 'no detail'})`;
    }
    return item;
}

// Shows the batch's photo i with its faces from the batch answer.
function choose(i) {
    chosen = i;
    result.dataset.batchChosen = String(i);
    for (const [j, item] of [...batchList.children].entries()) {
        const button = item.querySelector('button');
        if (!button) continue;
        if (j === i) button.setAttribute('aria-current', 'true');
        else button.removeAttribute('aria-current');
    }
    delete result.dataset.anonymize;
    errorLine.hidden = true;  // an anonymisation's error was about another photo
    clearFaces();
    faces = batchEntries[i].faces;
    showPhoto(batchFiles[i]);
    anonymizeButton.disabled = false;
    setState('done');
    render();
}

function render() {
    const t = threshold();
    sliderValue.textContent = t.toFixed(2);
    renderBatchList(t);
    if (result.dataset.state !== 'done') return;

    const shown = faces.filter((f) => f.confidence >= t);
    result.dataset.facesDetected = String(faces.length);
    result.dataset.facesShown = String(shown.length);
    const noun = faces.length === 1 ? 'face' : 'faces';
    const which = chosen >= 0
        ? `Photo ${chosen + 1} of ${batchEntries.length} (${entryName(chosen)}). `
        : '';
    statusLine.textContent = which + (faces.length === 0
        ? `No face found (down to confidence ${FLOOR.toFixed(2)}).`
        : `Showing ${shown.length} of ${faces.length} ${noun} found (confidence at least ${t.toFixed(2)}).`);

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

// Each photo of the batch with the faces the slider lets through.
function renderBatchList(t) {
    batchEntries.forEach((entry, i) => {
        const button = batchList.children[i]?.querySelector('button');
        if (!entry.faces || !button) return;
        const shown = entry.faces.filter((f) => f.confidence >= t).length;
        button.parentElement.dataset.facesDetected = String(entry.faces.length);
        button.parentElement.dataset.facesShown = String(shown);
        button.textContent = `${entryName(i)}: ${plural(shown, 'face')}`;
    });
}

// Boxes, keypoints and labels on the transparent canvas over the photo, in the
// photo's pixels; line widths are scaled so they look the same at any size.
function draw(shown) {
    const ctx = overlay.getContext('2d');
    // Not loaded yet (while another photo of a batch loads, naturalWidth is
    // still the last one's, but complete is false), or not a photo the
    // browser can show.
    if (!photo.complete || !photo.naturalWidth) return;
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

fileInput.addEventListener('change', () => detectFiles([...fileInput.files]));
slider.addEventListener('input', render);
anonymizeButton.addEventListener('click', anonymize);
modeSelect.addEventListener('change', () => {
    if (batchFiles.length > 0) detectBatch(batchFiles, chosen);
    else if (lastFile) detect(lastFile);
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
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length === 0) {
        showError('Nothing to check: drop a photo file.');
        return;
    }
    // The file picker then names the photos on show, as if they had been picked.
    const picked = new DataTransfer();
    for (const file of files) picked.items.add(file);
    fileInput.files = picked.files;
    detectFiles(files);
});

render();
