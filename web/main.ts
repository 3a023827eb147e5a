// web/main.ts: the training page. Loads a teacher (2-D or MNIST; zoo or upload), distils it with DMD / DMD2 on
// navigator.gpu through the same DistillSession as `onestep distill` (models/session.ts), and draws losses, the metric
// over training seconds, time to quality, samples and a one-step vs Heun-18 timing, without freezing the page: steps
// encoded for at most TURN_BUDGET_MS per event-loop turn, one batched loss readback every READ_EVERY steps, a generator
// redraw every task.drawEvery steps and an evaluation every task.evalEvery steps.
import * as os from '../engine';
import type { Tensor } from '../engine';
import { TOY2D_NAMES } from '../models/data/toy2d';
import { buildDenoiser, loadModel, saveModel, type ModelMeta } from '../models/checkpoint';
import { DMD_DEFAULTS, type DMDConfig } from '../models/dmd';
import type { EDMDenoiser } from '../models/edm';
import { recipeFor, TOY_PAIRS, type Recipe } from '../models/recipe';
import { heunSample } from '../models/samplers';
import { DistillSession, type LossRecord, type Quality } from '../models/session';
import { drawLines, smooth } from './draw';
import { taskFor, type PageTask } from './tasks';

const READ_EVERY = 10; // steps between loss readbacks
const TURN_BUDGET_MS = 30; // encode at most this long per event-loop turn

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

const WEBGPU_HELP =
  'WebGPU is not available in this browser, so the page cannot train. Use Chrome or Edge 113+ (Windows, macOS, ChromeOS, Android), ' +
  'Chrome on Linux with chrome://flags/#enable-unsafe-webgpu enabled (or started with --enable-unsafe-webgpu; Vulkan drivers needed), ' +
  'Firefox 141+ on Windows (elsewhere: Nightly, or dom.webgpu.enabled in about:config), or Safari 26+ (earlier: Develop → Feature Flags → WebGPU). ' +
  'The page must be opened from a secure origin (https, or http://127.0.0.1 / localhost as `npm run web` prints). ' +
  'Headless Chromium needs --enable-unsafe-webgpu --use-webgpu-adapter=swiftshader --enable-unsafe-swiftshader.';

interface Teacher {
  den: EDMDenoiser;
  meta: ModelMeta;
  source: string; // "zoo: …" or "upload: …"
  task: PageTask;
}

interface State {
  teacher: Teacher | null;
  uploaded: Teacher | null;
  zoo: Record<string, string>;
  classifiers: Record<string, string>;
  dataXs: Float32Array | null;
  teacherXs: Float32Array | null;
  /** The metric of fresh data (2-D), the chart's floor line. */
  floor: number | null;
  /** The teacher's evaluation (its Heun-18 samples, the teacher panel) and the guidance scale it was sampled with. */
  teacherQuality: { cfg: number; q: Quality } | null;
  /** The distillation (models/session.ts): pairs, trainer, evaluations, time to quality. */
  session: DistillSession | null;
  viewLabels: Tensor | null;
  zView: Tensor | null;
  running: boolean;
  loopActive: Promise<void> | null;
  busy: boolean;
  hist: { dm: [number, number][]; fake: [number, number][]; reg: [number, number][]; ganG: [number, number][]; ganD: [number, number][] };
  rateMarks: [number, number][]; // (time ms, step)
  dead: boolean;
}

const S: State = {
  teacher: null,
  uploaded: null,
  zoo: {},
  classifiers: {},
  dataXs: null,
  teacherXs: null,
  floor: null,
  teacherQuality: null,
  session: null,
  viewLabels: null,
  zView: null,
  running: false,
  loopActive: null,
  busy: false,
  hist: { dm: [], fake: [], reg: [], ganG: [], ganD: [] },
  rateMarks: [],
  dead: false,
};

/** Steps taken by the current session. */
const iteration = () => S.session?.iteration ?? 0;

// ---- messages -----------------------------------------------------------------------------------------------------

function showError(msg: string): void {
  const el = $('error');
  el.textContent = msg;
  el.classList.add('show');
}
function clearError(): void {
  const el = $('error');
  el.textContent = '';
  el.classList.remove('show');
}
function status(msg: string): void {
  $('status').textContent = msg;
}
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A failure while training or sampling: a lost device gets its own message; training stops either way. */
function fail(e: unknown, what: string): void {
  S.running = false;
  const m = errText(e);
  if (S.dead || /device (was )?lost/i.test(m)) deviceLost(m);
  else showError(`${what}: ${m}`);
  updateButtons();
}

function deviceLost(detail: string): void {
  S.dead = true;
  S.running = false;
  showError(
    `The GPU device was lost (${detail}). Training has stopped and the tensors on the GPU are gone. ` +
      'This happens when the GPU driver resets, the tab is backgrounded for long on some systems, or memory runs out. Restart to get a new device' +
      (S.session ? '; the generator cannot be downloaded any more: its weights lived on the lost device.' : '.'),
  );
  // restart = reload: every tensor, the teacher included, lived on the lost device, so a fresh page is the clean state
  const restart = document.createElement('button');
  restart.textContent = 'Restart';
  restart.dataset.testid = 'restart';
  restart.style.marginLeft = '12px';
  restart.addEventListener('click', () => location.reload());
  $('error').append(' ', restart);
  updateButtons();
}

// ---- controls -----------------------------------------------------------------------------------------------------

function readConfig(): Partial<DMDConfig> & { mode: 'dmd' | 'dmd2' } {
  const num = (id: string, lo: number, name: string, integer = false) => {
    const v = Number(input(id).value);
    if (!Number.isFinite(v) || v < lo || (integer && !Number.isInteger(v))) throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${lo} (got "${input(id).value}")`);
    return v;
  };
  const mode = ($<HTMLSelectElement>('mode').value === 'dmd' ? 'dmd' : 'dmd2') as 'dmd' | 'dmd2';
  return {
    mode,
    lr: num('lr', 0, 'generator lr'),
    fakeLr: num('fakeLr', 0, 'fake-score lr'),
    batch: num('batch', 1, 'batch', true),
    ttur: num('ttur', 1, 'TTUR ratio', true),
    cfg: num('cfg', 0, 'CFG scale'),
    regWeight: num('regWeight', 0, 'regression weight'),
    regBatch: num('regBatch', 0, 'regression batch', true),
    ganWeight: num('ganWeight', 0, 'GAN weight'),
    ganDWeight: num('ganDWeight', 0, 'GAN head weight'),
    ganMaxStep: Math.min(999, num('ganMaxStep', 0, 'GAN noise level', true)),
    emaDecay: num('emaDecay', 0, 'EMA decay'),
    warmup: num('warmup', 0, 'warm-up', true),
    lrDecay: num('lrDecay', 0, 'lr decay', true),
    seed: num('seed', 0, 'seed', true),
  };
}

/** The fields of the form a recipe sets (models/recipe.ts); the others keep their values. */
const RECIPE_FIELDS = ['lr', 'fakeLr', 'batch', 'ttur', 'regWeight', 'regBatch', 'ganWeight', 'ganDWeight', 'ganMaxStep', 'emaDecay', 'warmup', 'lrDecay'] as const;

function showRecipe(r: Recipe): void {
  $<HTMLSelectElement>('mode').value = r.mode;
  const d = DMD_DEFAULTS[r.mode];
  const full = { ...d, regWeight: r.mode === 'dmd' ? d.regWeight : 0, ...r };
  for (const k of RECIPE_FIELDS) if (full[k] !== undefined) input(k).value = String(full[k]);
}

function updateButtons(): void {
  const ok = !S.dead && !!S.teacher && !S.busy;
  $<HTMLButtonElement>('start').disabled = !ok || S.running;
  $<HTMLButtonElement>('start').textContent = S.session && !S.running ? 'Resume' : 'Start';
  $<HTMLButtonElement>('pause').disabled = !S.running;
  $<HTMLButtonElement>('reset').disabled = S.busy;
  $<HTMLButtonElement>('download').disabled = S.dead || !S.session || S.running || S.busy;
  $<HTMLButtonElement>('measure').disabled = !ok || S.running;
  const locked = !!S.session || S.running;
  for (const id of ['mode', ...RECIPE_FIELDS, 'cfg', 'seed', 'dataset', 'teacher', 'upload']) ($(id) as HTMLInputElement).disabled = locked || S.busy;
}

function populateDatasets(): void {
  const sel = $<HTMLSelectElement>('dataset');
  sel.innerHTML = '';
  const mnists = Object.keys(S.zoo).filter((n) => /^mnist\d+$/.test(n));
  for (const name of [...TOY2D_NAMES, ...(mnists.length ? mnists : ['mnist16'])]) {
    const o = document.createElement('option');
    o.value = name;
    o.textContent = S.zoo[name] ? name : `${name} (needs an uploaded teacher)`;
    sel.appendChild(o);
  }
  sel.value = S.zoo['8gaussians'] ? '8gaussians' : TOY2D_NAMES.find((n) => S.zoo[n]) ?? '8gaussians';
}

function populateTeachers(): void {
  const ds = $<HTMLSelectElement>('dataset').value;
  const sel = $<HTMLSelectElement>('teacher');
  sel.innerHTML = '';
  const add = (value: string, text: string) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    sel.appendChild(o);
  };
  if (S.zoo[ds]) add('zoo', `zoo: ${S.zoo[ds].split('/').pop()}`);
  if (S.uploaded) add('upload', `uploaded: ${S.uploaded.source} (${S.uploaded.meta.data})`);
  if (!sel.options.length) add('', '— upload a teacher —');
  $('teacher-note').textContent = S.zoo[ds]
    ? ''
    : `No zoo teacher for ${ds} yet: upload one trained with \`onestep train-teacher --data ${ds} --out runs/${ds}-teacher\` (its teacher.safetensors).`;
}

// ---- teacher, panels and timing -------------------------------------------------------------------------------------

async function readSamples(t: Tensor): Promise<Float32Array> {
  try {
    return await t.data();
  } finally {
    t.dispose();
  }
}

/** Makes `t` the current teacher: data and teacher (Heun-18) panels and the teacher's evaluation, computed once, then the timing. */
async function useTeacher(t: Teacher | null): Promise<void> {
  S.teacher = t;
  S.dataXs = S.teacherXs = null;
  S.floor = null;
  S.teacherQuality = null;
  S.viewLabels?.dispose();
  S.viewLabels = null;
  for (const id of ['data-canvas', 'teacher-canvas', 'generator-canvas']) clearCanvas($(id));
  showQuality();
  if (!t) {
    status('choose a teacher: this data set has none in the zoo, upload one');
    updateButtons();
    return;
  }
  S.busy = true;
  updateButtons();
  try {
    const task = t.task;
    showRecipe(recipeFor(task.name));
    await evaluateTeacher(t, 1);
    S.viewLabels = task.viewLabels();
    if (S.viewLabels) os.keep(S.viewLabels);
    S.dataXs = task.dataXs();
    task.draw($('data-canvas'), S.dataXs, [90, 90, 90]);
    $('data-caption').textContent = `data: ${task.name} (${task.nView} samples)`;
    S.floor = task.dataMetric();
    $('metric-name').textContent = task.metricName;
    $('metric-legend').textContent = task.metricName;
    drawCharts();
    S.busy = false;
    await measureTiming();
    status(`ready: ${t.source}, ${t.meta.data}, ${t.den.parameters().reduce((a, p) => a + p.size, 0).toLocaleString()} parameters. Press Start.`);
  } catch (e) {
    fail(e, 'sampling the teacher failed');
  } finally {
    S.busy = false;
    updateButtons();
  }
}

/** Samples the teacher (Heun-18) at guidance `cfg` as the evaluation does, scores it, and draws its first nView samples. */
async function evaluateTeacher(t: Teacher, cfg: number): Promise<void> {
  const task = t.task, evaluation = task.evaluation(cfg);
  status(`teacher ${t.source}: sampling with Heun (18 steps, 35 NFE) for the teacher panel and its evaluation…`);
  const xs = await evaluation.samples(t.den, null);
  const q = await evaluation.score(xs);
  S.teacherQuality = { cfg, q };
  S.teacherXs = xs.subarray(0, task.nView * task.sampleShape.reduce((a, b) => a * b, 1));
  task.draw($('teacher-canvas'), S.teacherXs, [44, 160, 44]);
  const metric = Number.isFinite(q.metric) ? ` (${task.metricName.replace(/ \(.*\)$/, '')} ${q.metric.toFixed(4)})` : '';
  $('teacher-caption').textContent = `teacher, Heun 18 steps, 35 NFE${cfg !== 1 ? `, CFG ${cfg}` : ''}${metric}`;
  showQuality();
}

async function loadTeacherBytes(bytes: Uint8Array, source: string, fallbackData: string): Promise<Teacher> {
  let r: { den: EDMDenoiser; meta: ModelMeta };
  try {
    r = await loadModel(bytes);
  } catch (e) {
    throw new Error(`${source} is not a valid onestep checkpoint: ${errText(e)}`);
  }
  if (r.meta.generatorSigma !== undefined) {
    r.den.dispose();
    throw new Error(`${source} is a one-step generator (generatorSigma ${r.meta.generatorSigma}), not a teacher; upload a teacher.safetensors from onestep train-teacher`);
  }
  try {
    return { den: r.den, meta: r.meta, source, task: await taskFor(r.meta, fallbackData, S.classifiers) };
  } catch (e) {
    r.den.dispose();
    throw new Error(`${source}: ${errText(e)}`);
  }
}

async function loadZooTeacher(ds: string): Promise<void> {
  const url = S.zoo[ds];
  if (!url) return useTeacher(null);
  status(`loading ${url}…`);
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
    const t = await loadTeacherBytes(new Uint8Array(await res.arrayBuffer()), `zoo: ${url.split('/').pop()}`, ds);
    await useTeacher(t);
  } catch (e) {
    showError(`Could not load the zoo teacher: ${errText(e)}`);
    await useTeacher(null);
  }
}

async function onTeacherChoice(): Promise<void> {
  if (S.session) return;
  clearError();
  const ds = $<HTMLSelectElement>('dataset').value;
  const choice = $<HTMLSelectElement>('teacher').value;
  if (S.teacher && S.teacher !== S.uploaded) S.teacher.den.dispose();
  S.teacher = null;
  if (choice === 'upload' && S.uploaded) await useTeacher(S.uploaded);
  else if (choice === 'zoo') await loadZooTeacher(ds);
  else await useTeacher(null);
}

async function onUpload(file: File): Promise<void> {
  clearError();
  try {
    if (!/\.safetensors$/i.test(file.name)) throw new Error(`${file.name} is not a valid onestep checkpoint: expected a .safetensors file`);
    const t = await loadTeacherBytes(new Uint8Array(await file.arrayBuffer()), file.name, $<HTMLSelectElement>('dataset').value);
    if (S.teacher && S.teacher !== S.uploaded && S.teacher.source.startsWith('zoo')) S.teacher.den.dispose();
    S.uploaded?.den.dispose();
    S.uploaded = t;
    S.teacher = null;
    $<HTMLSelectElement>('dataset').value = t.task.name;
    populateTeachers();
    $<HTMLSelectElement>('teacher').value = 'upload';
    await useTeacher(t);
  } catch (e) {
    showError(errText(e));
  } finally {
    input('upload').value = '';
  }
}

/** Median of `runs` timed runs (3: after a warm-up); each run finishes with a readback so the GPU work is inside. */
async function timeIt(f: () => Promise<void>, runs = 3): Promise<number> {
  if (runs > 1) await f();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[ts.length >> 1];
}

async function measureTiming(): Promise<void> {
  const t = S.teacher;
  if (!t || S.running) return;
  S.busy = true;
  updateButtons();
  // images: a small batch keeps the Heun timing short on software adapters; labels are not needed to time
  const n = t.task.sampleShape.length > 1 ? 20 : t.task.nView, shape = [n, ...t.task.sampleShape];
  $('timing-note').textContent = `measuring ${n} samples per batch…`;
  try {
    // the generator has the teacher's architecture: before training, time the teacher evaluated once at σ = 80
    const net = S.session?.generator() ?? t.den;
    const sigma = S.session?.trainer.cfg.generatorSigma ?? 80;
    const heunMs = await timeIt(async () => void (await readSamples(heunSample(t.den, { steps: 18, shape, seed: 2 }).x)), t.task.heunTimingRuns);
    const oneMs = await timeIt(async () => {
      const x = os.noGrad(() => os.tidy(() => net.forward(os.mul(os.randn(shape, { seed: 3 }), sigma), os.full([n], sigma), null)));
      await readSamples(x);
    });
    $('t-teacher').textContent = heunMs.toFixed(1);
    $('t-gen').textContent = oneMs.toFixed(2);
    $('speedup').textContent = `${(heunMs / oneMs).toFixed(1)}×`;
    $('timing-note').textContent = `${t.task.heunTimingRuns > 1 ? 'median of 3 runs' : 'Heun: one run; one-step: median of 3'} of ${n} samples each, including the readback, on ${os.device().adapterLabel}`;
  } catch (e) {
    fail(e, 'timing failed');
  } finally {
    S.busy = false;
    updateButtons();
  }
}

// ---- training -----------------------------------------------------------------------------------------------------

function drawCharts(): void {
  const win = Math.max(1, Math.floor(S.hist.fake.length / 60));
  const series = [
    { name: 'generator DM', color: '#ff7f0e', points: smooth(S.hist.dm, Math.max(1, Math.floor(win / 2))) },
    { name: 'fake score', color: '#1f77b4', points: smooth(S.hist.fake, win) },
  ];
  if (S.hist.reg.length) series.push({ name: 'regression', color: '#8c564b', points: smooth(S.hist.reg, win) });
  if (S.hist.ganD.length) series.push({ name: 'GAN head', color: '#17becf', points: smooth(S.hist.ganD, win) });
  if (S.hist.ganG.length) series.push({ name: 'GAN generator', color: '#bcbd22', points: smooth(S.hist.ganG, Math.max(1, Math.floor(win / 2))) });
  drawLines($('loss-canvas'), series, { logY: true });
  // quality against training seconds, the teacher's and the data's as lines
  const evals = (S.session?.evals ?? []).filter((e) => Number.isFinite(e.metric));
  const points: [number, number][] = evals.map((e) => [e.seconds, e.metric]);
  const span: [number, number] = [0, Math.max(1, points.at(-1)?.[0] ?? 1)];
  const metric = [{ name: 'generator', color: '#d62728', points }];
  const teacher = S.teacherQuality?.q.metric;
  if (points.length && teacher !== undefined && Number.isFinite(teacher)) metric.push({ name: 'teacher', color: '#2ca02c', points: span.map((x) => [x, teacher]) });
  if (points.length && S.floor !== null) metric.push({ name: 'data', color: '#7f7f7f', points: span.map((x) => [x, S.floor!]) });
  drawLines($('metric-canvas'), metric, { logY: true });
}

/** Time to quality, and the generator's quality figure beside the teacher's. */
function showQuality(): void {
  const task = S.teacher?.task, last = S.session?.evals.at(-1);
  const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(3));
  $('quality-name').textContent = task?.quality.name ?? 'quality';
  $('gen-quality').textContent = task && last ? fmt(task.quality.of(last)) : '—';
  $('teacher-quality').textContent = task && S.teacherQuality ? fmt(task.quality.of(S.teacherQuality.q)) : '—';
  const ttq = S.session?.ttqSeconds;
  $('ttq').textContent = ttq === null || ttq === undefined ? '' : ttq.toFixed(1);
  $('ttq-note').textContent = S.session ? (ttq === null ? `not yet (${S.session.trainSeconds.toFixed(1)} s of training)` : `s, at step ${S.session.evals.find((e) => e.reached)?.iteration}`) : '';
  $('swd').textContent = last && Number.isFinite(last.metric) ? last.metric.toFixed(4) : '—';
}

async function makeSession(): Promise<void> {
  const t = S.teacher!;
  const config = readConfig();
  os.manualSeed(config.seed ?? 0);
  const task = t.task;
  if ((config.regWeight ?? 0) > 0 && task.labelDim > 0) throw new Error('the regression loss is built for 2-D teachers here; set the regression weight to 0 (use DMD2) for MNIST');
  const cfg = config.cfg ?? 1;
  if (S.teacherQuality?.cfg !== cfg) await evaluateTeacher(t, cfg);
  if ((config.regWeight ?? 0) > 0) status(`making ${TOY_PAIRS.toLocaleString('en')} regression pairs with the teacher (Heun, 18 steps)…`);
  await nextTurn();
  const evaluation = task.evaluation(cfg);
  S.session = await DistillSession.start({
    teacher: t.den, meta: t.meta, config, pairs: TOY_PAIRS, pairSeed: 1000 + (config.seed ?? 0), teacherQuality: S.teacherQuality!.q,
    // the page draws real batches itself (its MNIST digits come from the server)
    task: { ...evaluation, sampleShape: task.sampleShape, realData: task.realData },
  });
  S.zView = os.keep(os.randn([task.nView, ...task.sampleShape], { seed: 4242 }));
  await drawGenerator();
  showQuality();
}

function record(records: LossRecord[]): void {
  for (const r of records)
    for (const k of ['dm', 'fake', 'reg', 'ganG', 'ganD'] as const) {
      const v = r[k];
      if (v === undefined) continue;
      if (!Number.isFinite(v)) throw new Error(`loss "${k}" became ${v} at step ${r.iteration}; lower the learning rates and press Reset`);
      S.hist[k].push([r.iteration, v]);
    }
  const now = performance.now(), step = iteration();
  S.rateMarks.push([now, step]);
  while (S.rateMarks.length > 2 && now - S.rateMarks[0][0] > 5000) S.rateMarks.shift();
  if (S.rateMarks.length >= 2) {
    const [t0, s0] = S.rateMarks[0];
    $('rate').textContent = ((step - s0) / Math.max(1e-3, (now - t0) / 1000)).toFixed(1);
  }
  $('step').textContent = String(step);
  $('gsteps').textContent = String(S.session?.trainer.optG.steps ?? 0);
  drawCharts();
}

async function drawGenerator(): Promise<void> {
  const s = S.session;
  if (!s || !S.zView) return;
  const task = S.teacher!.task;
  const xs = await readSamples(os.noGrad(() => s.trainer.generate(S.zView!, S.viewLabels, s.generator())));
  task.draw($('generator-canvas'), xs, [214, 39, 40]);
  const last = s.evals.at(-1), m = last && Number.isFinite(last.metric) ? ` (${task.metricName.replace(/ \(.*\)$/, '')} ${last.metric.toFixed(4)} at step ${last.iteration})` : '';
  $('generator-caption').textContent = `generator${s.trainer.ema ? ' (EMA)' : ''}, 1 NFE, step ${iteration()}${m}`;
}

const nextTurn = () => new Promise<void>((r) => setTimeout(r, 0));

async function trainLoop(): Promise<void> {
  const s = S.session!, task = S.teacher!.task;
  S.rateMarks = [[performance.now(), iteration()]];
  let turn = performance.now();
  // the event loop gets a turn whenever TURN_BUDGET_MS of encoding has passed
  const onIteration = async () => {
    if (performance.now() - turn < TURN_BUDGET_MS) return;
    await nextTurn();
    turn = performance.now();
  };
  while (S.running && !S.dead) {
    // up to the next readback, redraw or evaluation, whichever comes first
    const at = iteration(), next = (every: number) => every - (at % every);
    const n = Math.min(READ_EVERY, next(task.drawEvery), next(task.evalEvery));
    record(await s.train(n, { onIteration }));
    if (iteration() % task.evalEvery === 0) {
      await s.evaluate();
      showQuality();
      drawCharts();
    }
    if (iteration() % task.drawEvery === 0 || !S.running) await drawGenerator();
    await nextTurn();
    turn = performance.now();
  }
}

async function start(): Promise<void> {
  if (S.running || !S.teacher || S.dead) return;
  clearError();
  try {
    S.busy = true;
    updateButtons();
    if (!S.session) await makeSession();
  } catch (e) {
    S.busy = false;
    resetTraining();
    fail(e, 'could not start');
    return;
  }
  S.busy = false;
  S.running = true;
  updateButtons();
  const c = S.session!.trainer.cfg;
  status(`training ${c.mode.toUpperCase()}: batch ${c.batch}, TTUR ${c.ttur}, lr ${c.lr}, fake lr ${c.fakeLr}, warm-up ${c.warmup}, lr decay ${c.lrDecay}, regression ${c.regWeight} (${c.regBatch || c.batch} pairs), GAN ${c.ganWeight} (head ${c.ganDWeight}, levels ≤ ${c.ganMaxStep}), EMA ${c.emaDecay}`);
  S.loopActive = trainLoop()
    .catch((e) => fail(e, 'training stopped'))
    .finally(() => {
      S.loopActive = null;
      S.running = false;
      updateButtons();
    });
}

async function pause(): Promise<void> {
  S.running = false;
  await S.loopActive;
  status(`paused at step ${iteration()}. Resume, measure the timing, download the generator, or reset.`);
  updateButtons();
}

function resetTraining(): void {
  const s = S.session;
  if (s) {
    const tr = s.trainer;
    s.dispose();
    tr.generator.dispose();
    tr.fake.dispose();
    tr.optG.dispose();
    tr.optF.dispose();
    tr.ema?.dispose();
    tr.head?.dispose();
    tr.optH?.dispose();
  }
  S.zView?.dispose();
  S.session = null;
  S.zView = null;
  S.hist = { dm: [], fake: [], reg: [], ganG: [], ganD: [] };
  $('step').textContent = '0';
  $('rate').textContent = '0.0';
  $('gsteps').textContent = '0';
  $('generator-caption').textContent = 'generator, 1 NFE';
  clearCanvas($('generator-canvas'));
  showQuality();
  drawCharts();
}

function clearCanvas(c: HTMLCanvasElement): void {
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, c.width, c.height);
}

async function reset(): Promise<void> {
  S.running = false;
  await S.loopActive;
  if (!S.dead) resetTraining();
  status(S.teacher ? 'reset: press Start to distil again.' : 'reset.');
  updateButtons();
}

async function download(): Promise<void> {
  const s = S.session, t = S.teacher;
  if (!s || !t) return;
  const tr = s.trainer;
  try {
    const meta: ModelMeta = {
      ...t.meta,
      generatorSigma: tr.cfg.generatorSigma,
      recipe: { command: 'web page (npm run web)', teacher: t.source, config: tr.cfg, iterations: tr.iteration, adapter: os.device().adapterLabel, weights: tr.ema ? 'EMA' : 'raw', trainSeconds: s.trainSeconds, ttqSeconds: s.ttqSeconds, final: s.evals.at(-1) ?? null, teacherQuality: S.teacherQuality?.q ?? null },
    };
    const bytes = await saveModel(s.generator(), meta);
    const blob = new Blob([bytes as BlobPart], { type: 'application/octet-stream' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${t.task.name}-${tr.cfg.mode}-generator-${tr.iteration}.safetensors`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    status(`saved ${a.download}: sample it with \`onestep sample --model ${a.download} --sampler onestep\``);
  } catch (e) {
    fail(e, 'download failed');
  }
}

function onModeChange(): void {
  // each method's recipe for this data set (models/recipe.ts); the fields stay editable
  const mode = $<HTMLSelectElement>('mode').value === 'dmd' ? 'dmd' : 'dmd2';
  showRecipe(recipeFor(S.teacher?.task.name ?? $<HTMLSelectElement>('dataset').value, mode));
}

// ---- boot ---------------------------------------------------------------------------------------------------------

async function boot(): Promise<void> {
  for (const id of ['data-canvas', 'teacher-canvas', 'generator-canvas']) clearCanvas($(id));
  drawCharts();
  $<HTMLButtonElement>('start').addEventListener('click', () => void start());
  $<HTMLButtonElement>('pause').addEventListener('click', () => void pause());
  $<HTMLButtonElement>('reset').addEventListener('click', () => void reset());
  $<HTMLButtonElement>('download').addEventListener('click', () => void download());
  $<HTMLButtonElement>('measure').addEventListener('click', () => void measureTiming());
  $<HTMLSelectElement>('mode').addEventListener('change', onModeChange);
  $<HTMLSelectElement>('dataset').addEventListener('change', () => {
    populateTeachers();
    void onTeacherChoice();
  });
  $<HTMLSelectElement>('teacher').addEventListener('change', () => void onTeacherChoice());
  input('upload').addEventListener('change', () => {
    const f = input('upload').files?.[0];
    if (f) void onUpload(f);
  });
  updateButtons();
  $<HTMLButtonElement>('reset').disabled = true;

  if (!('gpu' in navigator) || !navigator.gpu) {
    showError(WEBGPU_HELP);
    status('WebGPU missing: nothing can run.');
    $('adapter').textContent = 'none (no WebGPU)';
    return;
  }
  try {
    await os.init();
  } catch (e) {
    showError(`${WEBGPU_HELP}\n\nDetails: ${errText(e)}`);
    status('no WebGPU device.');
    $('adapter').textContent = 'none';
    return;
  }
  const dev = os.device();
  $('adapter').textContent = `${dev.adapterLabel}${dev.isCpu ? ' (a CPU/software adapter: expect a few steps per second)' : ''}`;
  void dev.gpu.lost.then((info) => {
    if (os.hasDevice() && os.device() === dev) deviceLost(`${info.reason}${info.message ? `: ${info.message}` : ''}`);
  });
  try {
    const res = await fetch('/zoo.json');
    const idx = res.ok ? ((await res.json()) as { teachers: Record<string, string>; classifiers?: Record<string, string> }) : { teachers: {} };
    S.zoo = idx.teachers;
    S.classifiers = idx.classifiers ?? {};
  } catch {
    S.zoo = {};
  }
  populateDatasets();
  populateTeachers();
  await onTeacherChoice();
}

window.addEventListener('unhandledrejection', (ev) => showError(`Unexpected error: ${errText(ev.reason)}`));
// for tests and the console: the page state, and a way to exercise the device-lost path
(window as unknown as { __onestep: unknown }).__onestep = { state: S, loseDevice: () => os.device().gpu.destroy() };
void boot();
