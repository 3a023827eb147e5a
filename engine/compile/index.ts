// engine/compile/index.ts: compiled steps (os.compile) and dynamic regions (os.dynamic).
export { compile, setFusion, setEpilogues, type Compiled, type CompileStats } from './compile';
export { dynamic } from './trace';
