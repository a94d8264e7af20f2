// The page at `/` in a real browser: Debian's chromium (never a downloaded
// one) driven by playwright-core, against `face-service serve` on a free port.
//
//   node page_test.mjs BINARY SHARED_DIR SCREENSHOT_DIR
//
// Picks ../shared/golden/ivan.jpg through the file input and checks the faces
// drawn at the slider's values (0.95: the face; 0.7: the face and the hand on
// the microphone; 0.99: the face, see ../shared/golden/README.md), that moving
// the slider sends nothing, the API's error in words for a text file named
// .jpg, a simulated drag and drop, and a network error once the service is
// stopped; then, against a server with an API key, that a photo sent without
// the key gets the 401 in words and with the key typed in is detected, the
// key going as X-API-Key only when typed; and that the Anonymize button
// downloads the photo as a JPEG from /api/anonymize. Then, against a server
// with --max-batch 3, three files picked at once (ivan.jpg, BATCH_PHOTO from
// ../shared/eval and a truncated JPEG made here): one POST to
// /api/detect/batch, the list in order with each photo's face count and the
// broken one's error, the second photo drawn from that answer when its
// button is clicked, the first again by keyboard at another slider value,
// the mode sending the batch again, two photos dropped at once, four photos
// refused with the service's 413 in words, and one photo afterwards back on
// /api/detect. Saves SCREENSHOT_DIR/page.png (the 0.7 state),
// SCREENSHOT_DIR/page-batch.png (the batch, its second photo on show) and
// SCREENSHOT_DIR/page-readme.png, the 0.7 state with the photo pixelated so
// that it cannot be recognised: only that one may be copied into the
// repository (docs/page.png); the shared photos never may.
//
// Exit 0: passed; 1: failed; 77: skipped (no photo, no chromium, or no
// playwright-core: `npm ci --prefix tests/browser`).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; "
    + "script-src 'self'; frame-ancestors 'none'";
const READY_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 30_000;
const PIXEL_BLOCK = 20;  // the README copy's pixelation: ivan.jpg's face (49 x 62) becomes 3 x 4 blocks

const [binary, sharedDir, outDir] = process.argv.slice(2);
if (!binary || !sharedDir || !outDir) {
    console.error('usage: node page_test.mjs BINARY SHARED_DIR SCREENSHOT_DIR');
    process.exit(2);
}
const photoPath = resolve(sharedDir, 'golden', 'ivan.jpg');
// A WIDER FACE photo (1024 x 682) with two large, clear faces, both above
// 0.999 in the faithful mode: the batch's second photo.
const BATCH_PHOTO = 'eval/widerface-dev/images/1--Handshaking/1_Handshaking_Handshaking_1_357.jpg';
const batchPhotoPath = resolve(sharedDir, BATCH_PHOTO);
const BATCH_LIMIT = 3;  // the batch server's --max-batch

function skip(why) {
    console.log(`skipped: ${why}`);
    process.exit(77);
}
if (!existsSync(photoPath)) skip(`no ${photoPath}`);
if (!existsSync(batchPhotoPath)) skip(`no ${batchPhotoPath}`);
if (!existsSync(CHROMIUM)) skip(`no ${CHROMIUM} (apt-get install chromium)`);
let chromium;
try {
    ({ chromium } = await import('playwright-core'));
} catch (e) {
    skip(`playwright-core is not installed (npm ci --prefix tests/browser): ${e.message.split('\n')[0]}`);
}

class CheckFailed extends Error {}
function check(condition, what, detail = '') {
    if (!condition) throw new CheckFailed(`${what}${detail ? `: ${detail}` : ''}`);
    console.log(`ok: ${what}`);
}

function freePort() {
    return new Promise((done, fail) => {
        const s = createServer();
        s.once('error', fail);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => done(port));
        });
    });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// The server, killed however the test ends.
let server = null;
let serverLog = '';
let serverExit = null;
process.on('exit', () => {
    if (server && serverExit === null) server.kill('SIGKILL');
});

// Pushes onto `problems` the page's uncaught errors and console errors,
// except the browser's own log of a response with the `expected` status.
function collectProblems(page, problems, expected) {
    const expectedLog = `Failed to load resource: the server responded with a status of ${expected}`;
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    page.on('console', (m) => {
        if (m.type() !== 'error' || m.text().includes(expectedLog)) return;
        problems.push(`console error: ${m.text()}`);
    });
}

async function startServer(extraArgs = []) {
    const port = await freePort();
    serverExit = null;
    // The faithful mode by default: the checks below use the predecessor's
    // known answers for ivan.jpg (../shared/golden), whatever the
    // calibrated modes' tables say.
    server = spawn(binary, ['serve', '--port', String(port), '--host', '127.0.0.1', '--threads', '2', '--mode', 'faithful',
        ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout.on('data', (d) => { serverLog += d; });
    server.stderr.on('data', (d) => { serverLog += d; });
    server.on('exit', (code, signal) => { serverExit = signal ?? code; });
    server.on('error', (e) => { serverExit = e.message; });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
        if (serverExit !== null) throw new CheckFailed(`server exited during start-up (${serverExit})`);
        try {
            if ((await fetch(`${base}/readyz`)).status === 200) break;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) throw new CheckFailed(`server not ready within ${READY_TIMEOUT_MS / 1000} s`);
        await sleep(100);
    }
    return base;
}

async function stopServer() {
    if (!server || serverExit !== null) return;
    server.kill('SIGTERM');
    for (let i = 0; i < 50 && serverExit === null; ++i) await sleep(100);
    if (serverExit === null) server.kill('SIGKILL');
}

async function run(base, tmp) {
    const photo = readFileSync(photoPath);

    // What the API itself answers, to hold the page to (the page asks at 0.5).
    const api = await (await fetch(`${base}/api/detect?confidence=0.5`, {
        method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: photo,
    })).json();
    const countAt = (t) => api.filter((f) => f.confidence >= t).length;
    check(countAt(0.95) === 1 && countAt(0.7) === 2 && countAt(0.99) === 1,
        'the API finds 1 face at 0.95, 2 at 0.7, 1 at 0.99 in ivan.jpg', JSON.stringify(api));
    const byConfidence = [...api].sort((a, b) => b.confidence - a.confidence);
    const [face, hand] = byConfidence;  // 0.99997 and 0.866

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
        const context = await browser.newContext({ viewport: { width: 900, height: 900 }, deviceScaleFactor: 1 });
        const page = await context.newPage();
        page.setDefaultTimeout(STEP_TIMEOUT_MS);

        const requests = [];  // every request the page made, in order
        const responses = new Map();  // url -> headers
        const problems = [];  // uncaught errors and CSP violations
        context.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
        context.on('response', async (r) => responses.set(r.url(), await r.allHeaders()));
        collectProblems(page, problems, 415);  // the 415 of the error check below

        // The page, its headers, its assets.
        const main = await page.goto(`${base}/`);
        const headers = await main.allHeaders();
        check(main.status() === 200 && headers['content-type'] === 'text/html; charset=utf-8',
            'GET / is text/html; charset=utf-8', `${main.status()} ${headers['content-type']}`);
        check(headers['content-security-policy'] === CSP, 'GET / sends the Content-Security-Policy',
            headers['content-security-policy']);
        check(headers['x-content-type-options'] === 'nosniff', 'GET / sends X-Content-Type-Options: nosniff');
        await page.waitForFunction(() => document.getElementById('confidence-value').textContent === '0.95');
        for (const [path, type] of [['/app.js', 'text/javascript'], ['/app.css', 'text/css']]) {
            const h = responses.get(`${base}${path}`);
            check(h && h['content-type'].startsWith(type), `${path} loaded as ${type}`, h && h['content-type']);
        }

        // Accessible, keyboard-usable controls.
        check(await page.getByLabel('Photo', { exact: true }).evaluate((e) => e.id === 'file'),
            'the file input is labelled "Photo"');
        const slider = page.getByLabel('Minimum confidence');
        check(await slider.inputValue() === '0.95', 'the confidence slider is labelled and starts at 0.95');
        check(await page.locator('#floor').textContent() === '0.50' && await slider.getAttribute('min') === '0.5',
            'the detection floor 0.50 is shown and is the slider\'s minimum');
        const modeSelect = page.getByLabel('Mode', { exact: true });
        check(await modeSelect.inputValue() === '', 'the mode selector is labelled and starts at the service\'s default');
        await page.keyboard.press('Tab');
        check(await page.evaluate(() => document.activeElement.id) === 'file', 'Tab reaches the file picker first');

        // ivan.jpg through the file input.
        await page.setInputFiles('#file', photoPath);
        const drawn = () => page.waitForFunction(() => {
            const r = document.getElementById('result');
            return r.dataset.state === 'done' && r.dataset.facesDrawn === r.dataset.facesShown;
        });
        await drawn();
        const state = () => page.evaluate(() => {
            const r = document.getElementById('result');
            return {
                detected: Number(r.dataset.facesDetected),
                shown: Number(r.dataset.facesShown),
                items: [...document.querySelectorAll('#faces li')].map((li) => li.dataset.box),
                status: document.getElementById('status').textContent,
                value: document.getElementById('confidence').value,
            };
        });
        // Alpha of the overlay canvas (boxes and keypoints only, transparent
        // elsewhere) at a photo pixel.
        const alphaAt = (x, y) => page.evaluate(([x, y]) =>
            document.getElementById('overlay').getContext('2d').getImageData(x, y, 1, 1).data[3], [x, y]);
        const leftEdge = (f) => [f.box[0], f.box[1] + Math.round(f.box[3] / 2)];

        let s = await state();
        check(s.detected === api.length, `the page got every face down to 0.5 (${s.detected})`);
        check(s.shown === 1 && s.items.length === 1 && s.items[0] === face.box.join(','),
            'at 0.95 one face is shown, the face', JSON.stringify(s));
        check(/Showing 1 of \d+ faces? found/.test(s.status), 'the status line counts the faces shown', s.status);
        check(await alphaAt(...leftEdge(face)) > 0, 'the face\'s box is drawn on the canvas');
        check(await alphaAt(...leftEdge(hand)) === 0, 'the hand\'s box is not drawn at 0.95');
        check(await alphaAt(face.keypoints.nose[0], face.keypoints.nose[1]) > 0, 'the face\'s keypoints are drawn');
        check(await alphaAt(30, 500) === 0, 'the canvas is transparent away from the boxes');
        check(await page.locator('#photo').evaluate((img) => img.naturalWidth === 561 && img.complete),
            'the photo is shown (561 px wide)');

        // The slider: 0.7 with fill, then 0.99 with the keyboard.
        await slider.fill('0.7');
        await drawn();
        s = await state();
        check(s.shown === 2 && s.items.includes(hand.box.join(',')), 'at 0.7 two faces: the face and the hand',
            JSON.stringify(s));
        check(await alphaAt(...leftEdge(hand)) > 0, 'the hand\'s box is drawn at 0.7');
        mkdirSync(outDir, { recursive: true });
        await page.screenshot({ path: join(outDir, 'page.png'), fullPage: true });
        console.log(`saved ${join(outDir, 'page.png')}`);

        await slider.focus();
        for (let i = 0; i < 29; ++i) await page.keyboard.press('ArrowRight');
        await drawn();
        s = await state();
        check(Math.abs(Number(s.value) - 0.99) < 1e-9 && s.shown === 1 && s.items[0] === face.box.join(','),
            'at 0.99 (keyboard) one face again', JSON.stringify(s));
        check(await alphaAt(...leftEdge(hand)) === 0, 'the hand\'s box is gone from the canvas at 0.99');

        // Nothing but the page's own files and one detection so far.
        const own = (u) => u.startsWith('blob:') || u.startsWith('data:') || u.startsWith(`${base}/`);
        check(requests.every((r) => own(r.url)), 'every request went to the service itself',
            JSON.stringify(requests.filter((r) => !own(r.url))));
        const seen = requests.filter((r) => r.url.startsWith(`${base}/`))
            .map((r) => `${r.method} ${r.url.slice(base.length)}`);
        const expected = ['GET /', 'GET /app.css', 'GET /app.js', 'POST /api/detect?confidence=0.5'];
        check(JSON.stringify([...seen].sort()) === JSON.stringify(expected),
            'the slider sent nothing: the requests were the page, its two files and one POST /api/detect',
            JSON.stringify(seen));

        // Another mode sends the photo again, with that mode; the face is
        // still found and drawn.
        const accurate = await (await fetch(`${base}/api/detect?mode=accurate&confidence=0.5`, {
            method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: photo,
        })).json();
        // The change handler marks the page "detecting" before selectOption
        // returns, so drawn() waits for the new answer, not the old one.
        await modeSelect.selectOption('accurate');
        await drawn();
        s = await state();
        const accurateShown = accurate.filter((f) => f.confidence >= Number(s.value)).length;
        check(accurate.length >= 1 && s.detected === accurate.length && s.shown === accurateShown,
            `in the accurate mode the page shows the API's answer (${accurate.length} faces down to 0.5, `
            + `${accurateShown} at ${s.value})`, JSON.stringify(s));
        const last = requests.filter((r) => r.method === 'POST').at(-1);
        check(last.url === `${base}/api/detect?mode=accurate&confidence=0.5`, 'the mode went with the request', last.url);
        await modeSelect.selectOption('');
        await drawn();

        // A text file named .jpg: the API's 415 detail, in words.
        const notPhoto = join(tmp, 'notes.jpg');
        writeFileSync(notPhoto, 'hello, this is a text file, not a photo\n');
        const refused = await fetch(`${base}/api/detect?confidence=0.5`, {
            method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: readFileSync(notPhoto),
        });
        const { detail } = await refused.json();
        check(refused.status === 415 && typeof detail === 'string', `the API refuses it: 415 "${detail}"`);
        await page.setInputFiles('#file', notPhoto);
        await page.waitForFunction(() => document.getElementById('result').dataset.state === 'error');
        const error = page.locator('#error');
        const errorText = await error.textContent();
        check(await error.isVisible() && errorText.includes(detail) && errorText.includes('415'),
            'the page shows the error in words', errorText);
        check(await page.locator('#result').isHidden(), 'no photo or faces are shown with the error');

        // Drag and drop: a drop event carrying ivan.jpg as a File in a
        // DataTransfer, as the browser builds it for a real drop.
        await page.evaluate(async (base64) => {
            const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], 'ivan.jpg', { type: 'image/jpeg' }));
            const target = document.getElementById('drop');
            for (const type of ['dragenter', 'dragover', 'drop'])
                target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
        }, photo.toString('base64'));
        await drawn();
        s = await state();
        check(s.shown === 1 && s.items[0] === face.box.join(',') && await error.isHidden(),
            'a dropped photo is detected (one face at 0.99), the error is gone', JSON.stringify(s));
        check(await page.locator('#file').evaluate((e) => e.files[0]?.name) === 'ivan.jpg',
            'the file picker names the dropped photo');
        const posts = requests.filter((r) => r.method === 'POST').length;
        check(posts === 5, 'five detections in all: the photo, in the accurate mode and back, the text file, the dropped photo',
            `${posts}`);

        // Anonymize: the photo on show goes to /api/anonymize at the
        // slider's confidence, and the answer is downloaded: a JPEG, as the
        // photo was, named by the service.
        const anonymizeButton = page.getByRole('button', { name: 'Anonymize' });
        check(await anonymizeButton.isEnabled(), 'the Anonymize button is enabled once a photo is on show');
        const [download] = await Promise.all([page.waitForEvent('download'), anonymizeButton.click()]);
        await page.waitForFunction(() => document.getElementById('result').dataset.anonymize === 'done');
        const saved = readFileSync(await download.path());
        check(download.suggestedFilename() === 'anonymized.jpg', 'the download is named anonymized.jpg',
            download.suggestedFilename());
        check(saved.length > 1000 && saved[0] === 0xff && saved[1] === 0xd8 && saved[2] === 0xff,
            `the download is a JPEG (${saved.length} bytes)`);
        const size = await page.evaluate(async (base64) => {
            const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
            const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
            return [bitmap.width, bitmap.height];
        }, saved.toString('base64'));
        check(size[0] === 561 && size[1] === 561, 'the browser decodes it as the 561 x 561 photo', JSON.stringify(size));
        const anonymizeRequest = requests.filter((r) => r.method === 'POST').at(-1);
        check(anonymizeRequest.url === `${base}/api/anonymize?confidence=${s.value}`,
            'it was sent at the slider\'s confidence', anonymizeRequest.url);
        check(/Saved anonymized\.jpg with 1 face blurred/.test(await page.locator('#status').textContent()),
            'the status line says what was saved', await page.locator('#status').textContent());

        check(problems.length === 0, 'no uncaught error and no Content-Security-Policy violation',
            problems.join('; '));

        // The README copy: the 0.7 state with the photo layer pixelated, the
        // boxes, keypoints and labels untouched.
        await slider.fill('0.7');
        await page.evaluate(async (block) => {
            const img = document.getElementById('photo');
            const small = document.createElement('canvas');
            small.width = Math.ceil(img.naturalWidth / block);
            small.height = Math.ceil(img.naturalHeight / block);
            small.getContext('2d').drawImage(img, 0, 0, small.width, small.height);
            const big = document.createElement('canvas');
            big.width = img.naturalWidth;
            big.height = img.naturalHeight;
            const ctx = big.getContext('2d');
            ctx.imageSmoothingEnabled = false;
            ctx.drawImage(small, 0, 0, big.width, big.height);
            img.src = big.toDataURL('image/png');
            await img.decode();
        }, PIXEL_BLOCK);
        await slider.blur();  // no focus ring in the README picture
        await drawn();
        s = await state();
        check(s.shown === 2 && await alphaAt(...leftEdge(hand)) > 0,
            'the pixelated README copy still shows both boxes at 0.7', JSON.stringify(s));
        await page.screenshot({ path: join(outDir, 'page-readme.png'), fullPage: true });
        console.log(`saved ${join(outDir, 'page-readme.png')} (photo pixelated in ${PIXEL_BLOCK} px blocks)`);

        // With the service gone, a network error in words.
        await stopServer();
        await page.setInputFiles('#file', photoPath);
        await page.waitForFunction(() => document.getElementById('result').dataset.state === 'error');
        const networkError = await error.textContent();
        check(await error.isVisible() && networkError.startsWith('Network error'),
            'with the service stopped, the page shows a network error', networkError);
    } finally {
        await browser.close();
    }
}

// A service with an API key: the page's key field.
const API_KEY = 'page-test-key-0123456789';
async function runKeyed(base) {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
        const page = await browser.newPage();
        page.setDefaultTimeout(STEP_TIMEOUT_MS);
        const keys = [];  // the X-API-Key of each detection
        page.on('request', (r) => {
            if (r.method() === 'POST') keys.push(r.headers()['x-api-key'] ?? null);
        });
        const problems = [];
        collectProblems(page, problems, 401);
        check((await page.goto(`${base}/`)).status() === 200, 'with an API key set, the page itself is open');
        const keyField = page.getByLabel('API key', { exact: true });
        check(await keyField.getAttribute('type') === 'password' && await keyField.inputValue() === '',
            'the API key field is labelled, hidden while typed, and empty');

        await page.setInputFiles('#file', photoPath);
        await page.waitForFunction(() => document.getElementById('result').dataset.state === 'error');
        const errorText = await page.locator('#error').textContent();
        check(errorText.includes('401') && errorText.includes('API key'), 'without the key: the 401 in words', errorText);

        await keyField.fill(API_KEY);
        await page.setInputFiles('#file', []);
        await page.setInputFiles('#file', photoPath);
        await page.waitForFunction(() => {
            const r = document.getElementById('result');
            return r.dataset.state === 'done' && r.dataset.facesDrawn === r.dataset.facesShown;
        });
        const shown = await page.evaluate(() => Number(document.getElementById('result').dataset.facesShown));
        check(shown === 1, 'with the key typed in, the photo is detected (one face at 0.95)', `${shown}`);
        check(JSON.stringify(keys) === JSON.stringify([null, API_KEY]),
            'X-API-Key went only once typed, as typed', JSON.stringify(keys));

        // A batch carries the key the same way.
        await page.setInputFiles('#file', [photoPath, batchPhotoPath]);
        await page.waitForFunction(() => {
            const r = document.getElementById('result');
            return r.dataset.batchState === 'done' && r.dataset.facesDrawn === r.dataset.facesShown;
        });
        check(keys.length === 3 && keys[2] === API_KEY, 'a batch of two is sent with the key too', JSON.stringify(keys));
        check(problems.length === 0, 'no uncaught error or CSP violation with the key field', problems.join('; '));
    } finally {
        await browser.close();
    }
}

// Several photos at once, against a service taking at most BATCH_LIMIT.
async function runBatch(base, tmp) {
    const ivan = readFileSync(photoPath);
    const second = readFileSync(batchPhotoPath);
    const secondName = BATCH_PHOTO.split('/').at(-1);
    const brokenPath = join(tmp, 'broken.jpg');
    writeFileSync(brokenPath, ivan.subarray(0, 3000));  // a JPEG cut short: its header, no end
    const files = [photoPath, batchPhotoPath, brokenPath];
    const names = ['ivan.jpg', secondName, 'broken.jpg'];

    // What the API itself answers for the three, to hold the page to.
    const batchForm = (bodies) => {
        const form = new FormData();
        bodies.forEach((bytes, i) => form.append('image', new Blob([bytes], { type: 'image/jpeg' }), names[i] ?? `extra-${i}.jpg`));
        return form;
    };
    const api = await (await fetch(`${base}/api/detect/batch?confidence=0.5`, {
        method: 'POST', body: batchForm([ivan, second, readFileSync(brokenPath)]),
    })).json();
    check(Array.isArray(api) && api.length === 3 && api.map((e) => e.name).join() === names.join()
        && api[0].faces && api[1].faces && api[2].error,
    'the API answers the batch in order: two photos with faces, the broken one with its error', JSON.stringify(api));
    const countAt = (entry, t) => entry.faces.filter((f) => f.confidence >= t).length;
    check(countAt(api[0], 0.95) === 1 && countAt(api[0], 0.7) === 2 && countAt(api[1], 0.95) === 2,
        `1 face at 0.95 in ivan.jpg (2 at 0.7), 2 at 0.95 in ${secondName}`);
    const brokenError = api[2].error;
    const tooMany = await fetch(`${base}/api/detect/batch?confidence=0.5`, {
        method: 'POST', body: batchForm([ivan, ivan, ivan, ivan]),
    });
    const tooManyDetail = (await tooMany.json()).detail;
    check(tooMany.status === 413 && tooManyDetail.includes(`at most ${BATCH_LIMIT}`),
        `the API refuses ${BATCH_LIMIT + 1} photos: 413 "${tooManyDetail}"`);

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
        const page = await browser.newPage({ viewport: { width: 900, height: 1000 }, deviceScaleFactor: 1 });
        page.setDefaultTimeout(STEP_TIMEOUT_MS);
        const posts = [];  // path and query of every POST the page made
        page.on('request', (r) => {
            if (r.method() === 'POST') posts.push(r.url().slice(base.length));
        });
        const problems = [];
        collectProblems(page, problems, 413);  // the 413 of the too-many check below
        check((await page.goto(`${base}/`)).status() === 200, 'the batch server serves the page');
        check(await page.locator('#file').evaluate((e) => e.multiple), 'the file input takes several files');

        const drawn = () => page.waitForFunction(() => {
            const r = document.getElementById('result');
            return r.dataset.batchState === 'done' && r.dataset.state === 'done'
                && r.dataset.facesDrawn === r.dataset.facesShown;
        });
        const state = () => page.evaluate(() => {
            const r = document.getElementById('result');
            return {
                batch: r.dataset.batchState,
                photos: Number(r.dataset.batchPhotos),
                chosen: r.dataset.batchChosen,
                shown: Number(r.dataset.facesShown),
                faces: [...document.querySelectorAll('#faces li')].map((li) => li.dataset.box),
                entries: [...document.querySelectorAll('#batch-list li')].map((li) => ({
                    name: li.dataset.name,
                    shown: li.dataset.facesShown,
                    error: li.dataset.error,
                    text: li.textContent,
                    button: li.querySelector('button') !== null,
                    current: li.querySelector('button')?.getAttribute('aria-current') === 'true',
                })),
                status: document.getElementById('status').textContent,
                width: document.getElementById('overlay').width,
            };
        });
        const alphaAt = (x, y) => page.evaluate(([x, y]) =>
            document.getElementById('overlay').getContext('2d').getImageData(x, y, 1, 1).data[3], [x, y]);
        const leftEdge = (f) => [f.box[0], f.box[1] + Math.round(f.box[3] / 2)];
        const boxesAt = (entry, t) => entry.faces.filter((f) => f.confidence >= t).map((f) => f.box.join(','));

        // Three files picked at once: one request, the list, the first photo on show.
        await page.setInputFiles('#file', files);
        await drawn();
        let s = await state();
        check(JSON.stringify(posts) === JSON.stringify(['/api/detect/batch?confidence=0.5']),
            'the three photos went in one POST /api/detect/batch at the floor 0.5', JSON.stringify(posts));
        check(s.photos === 3 && s.entries.length === 3 && s.entries.map((e) => e.name).join() === names.join(),
            'the list has the three photos, in order', JSON.stringify(s.entries));
        check(s.entries[0].shown === '1' && s.entries[0].text === 'ivan.jpg: 1 face'
            && s.entries[1].shown === '2' && s.entries[1].text === `${secondName}: 2 faces`,
        'each photo with its face count at 0.95', JSON.stringify(s.entries));
        check(s.entries[2].error === String(brokenError.status) && !s.entries[2].button
            && s.entries[2].text.includes(brokenError.detail),
        `the broken one with its own error, in words (${brokenError.status}: ${brokenError.detail})`, s.entries[2].text);
        check(s.chosen === '0' && s.entries[0].current && s.shown === 1 && s.faces[0] === api[0].faces[0].box.join(',')
            && await alphaAt(...leftEdge(api[0].faces[0])) > 0,
        'the first photo is on show with its face drawn', JSON.stringify(s));
        check(/^Photo 1 of 3 \(ivan\.jpg\)\. Showing 1 of 2 faces found/.test(s.status),
            'the status line names the photo on show', s.status);
        check(await page.locator('#batch-summary').textContent() === '3 photos checked, 1 of them could not be; '
            + 'choose one to see its faces.', 'the summary counts the failed photo',
        await page.locator('#batch-summary').textContent());

        // The second photo, clicked: drawn from the batch's answer, nothing sent.
        await page.getByRole('button', { name: `${secondName}: 2 faces` }).click();
        await drawn();
        s = await state();
        check(s.chosen === '1' && s.entries[1].current && !s.entries[0].current, 'the second entry is the one on show',
            JSON.stringify(s.entries));
        check(s.width === 1024 && await page.locator('#photo').evaluate((img) => img.naturalWidth === 1024),
            `the canvas is ${secondName}'s size (1024 px wide)`, `${s.width}`);
        check(s.shown === 2 && JSON.stringify(s.faces) === JSON.stringify(boxesAt(api[1], 0.95)),
            'its two faces are listed, as the batch answered', JSON.stringify(s.faces));
        for (const f of api[1].faces) {
            check(await alphaAt(...leftEdge(f)) > 0 && await alphaAt(f.keypoints.nose[0], f.keypoints.nose[1]) > 0,
                `the box and keypoints of its face at (${f.box[0]}, ${f.box[1]}) are drawn`);
        }
        check(await alphaAt(...leftEdge(api[0].faces[0])) === 0, 'ivan.jpg\'s box is gone from the canvas');
        check(posts.length === 1, 'choosing a photo sent nothing', JSON.stringify(posts));
        await page.screenshot({ path: join(outDir, 'page-batch.png'), fullPage: true });
        console.log(`saved ${join(outDir, 'page-batch.png')}`);

        // Anonymize takes the batch's photo on show (two faces, where ivan.jpg has one at 0.95).
        const [download] = await Promise.all([page.waitForEvent('download'),
            page.getByRole('button', { name: 'Anonymize' }).click()]);
        await page.waitForFunction(() => document.getElementById('result').dataset.anonymize === 'done');
        const saved = readFileSync(await download.path());
        const savedStatus = await page.locator('#status').textContent();
        check(posts.at(-1) === '/api/anonymize?confidence=0.95' && saved[0] === 0xff && saved[1] === 0xd8
            && /with 2 faces blurred/.test(savedStatus),
        `Anonymize sends the photo on show, ${secondName}`, `${posts.at(-1)} ${savedStatus}`);
        const detections = () => posts.filter((p) => p.startsWith('/api/detect'));

        // The slider filters the batch too; the first photo again, by keyboard.
        await page.getByLabel('Minimum confidence').fill('0.7');
        const first = page.getByRole('button', { name: 'ivan.jpg: 2 faces' });
        check(await first.count() === 1, 'at 0.7 the list counts ivan.jpg\'s two faces');
        await first.focus();
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => document.getElementById('result').dataset.batchChosen === '0');
        await drawn();
        s = await state();
        check(s.shown === 2 && JSON.stringify(s.faces) === JSON.stringify(boxesAt(api[0], 0.7))
            && await alphaAt(...leftEdge(api[0].faces[1])) > 0,
        'Enter on ivan.jpg\'s button shows it with both faces at 0.7', JSON.stringify(s));
        check(detections().length === 1, 'still one detection', JSON.stringify(posts));

        // Another mode sends the batch again, in that mode; the photo on show stays.
        // The change handler marks the batch "sending" before selectOption
        // returns, so drawn() waits for the new answer.
        await page.getByLabel('Mode', { exact: true }).selectOption('default');
        await drawn();
        s = await state();
        check(posts.at(-1) === '/api/detect/batch?mode=default&confidence=0.5' && detections().length === 2,
            'a new mode sends the batch again, with the mode', JSON.stringify(posts));
        check(s.photos === 3 && s.chosen === '0', 'the same photo is on show in the new mode', JSON.stringify(s));
        await page.getByLabel('Mode', { exact: true }).selectOption('');
        await drawn();

        // Two photos dropped at once: a batch, and the file picker holds both.
        await page.evaluate(async ([a, b, bName]) => {
            const file = (base64, name) => new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name,
                { type: 'image/jpeg' });
            const data = new DataTransfer();
            data.items.add(file(a, 'ivan.jpg'));
            data.items.add(file(b, bName));
            const target = document.getElementById('drop');
            for (const type of ['dragenter', 'dragover', 'drop'])
                target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
        }, [ivan.toString('base64'), second.toString('base64'), secondName]);
        await page.waitForFunction(() => document.getElementById('result').dataset.batchPhotos === '2');
        await drawn();
        s = await state();
        check(s.entries.map((e) => e.name).join() === `ivan.jpg,${secondName}` && posts.at(-1).startsWith('/api/detect/batch?'),
            'two dropped photos go as a batch of two', JSON.stringify(s.entries));
        check(await page.locator('#file').evaluate((e) => e.files.length) === 2, 'the file picker names both');

        // One photo too many: the service's 413, in words.
        await page.setInputFiles('#file', [photoPath, batchPhotoPath, photoPath, brokenPath]);
        await page.waitForFunction(() => document.getElementById('result').dataset.batchState === 'error');
        const error = page.locator('#error');
        const errorText = await error.textContent();
        check(await error.isVisible() && errorText.includes('413') && errorText.includes(tooManyDetail)
            && errorText.includes('4 photos'), `${BATCH_LIMIT + 1} photos: the 413 and its detail in words`, errorText);
        check(await page.locator('#batch').isHidden() && await page.locator('#result').isHidden(),
            'no list and no photo with that error');
        check(await page.getByRole('button', { name: 'Anonymize' }).isDisabled(), 'nothing to anonymize then');

        // One photo again: /api/detect as before, the batch gone.
        await page.setInputFiles('#file', photoPath);
        await page.waitForFunction(() => {
            const r = document.getElementById('result');
            return r.dataset.state === 'done' && r.dataset.facesDrawn === r.dataset.facesShown;
        });
        s = await state();
        check(posts.at(-1) === '/api/detect?confidence=0.5' && s.batch === 'idle' && s.photos === 0
            && s.chosen === undefined && await page.locator('#batch').isHidden() && await error.isHidden(),
        'one photo after a batch goes to /api/detect, the list hidden', JSON.stringify({ posts, s }));
        check(s.shown === 2 && /^Showing 2 of 2 faces found \(confidence at least 0\.70\)/.test(s.status),
            'it is shown as before (both faces at the slider\'s 0.70)',
            JSON.stringify(s));

        check(problems.length === 0, 'no uncaught error and no CSP violation in the batch steps', problems.join('; '));
    } finally {
        await browser.close();
    }
}

const tmp = mkdtempSync(join(tmpdir(), 'face-page-test-'));
let status = 0;
try {
    const base = await startServer();
    console.log(`ok: face-service serving ${base}`);
    await run(base, tmp);
    await stopServer();
    const keyedBase = await startServer(['--api-keys', API_KEY]);
    console.log(`ok: face-service serving ${keyedBase} with an API key`);
    await runKeyed(keyedBase);
    await stopServer();
    const batchBase = await startServer(['--max-batch', String(BATCH_LIMIT)]);
    console.log(`ok: face-service serving ${batchBase} with at most ${BATCH_LIMIT} photos a batch`);
    await runBatch(batchBase, tmp);
    console.log('browser_page: all checks passed');
} catch (e) {
    console.log(`FAIL: ${e instanceof CheckFailed ? e.message : e.stack}`);
    if (serverLog) console.log(`--- server log\n${serverLog}`);
    status = 1;
} finally {
    await stopServer();
    rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
