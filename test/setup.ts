// test/setup.ts: every test file gets a device (lavapipe unless ONESTEP_ADAPTER says otherwise).
import { beforeAll } from 'vitest';
import * as os from '../engine';

beforeAll(async () => {
  if (!os.hasDevice()) await os.init({ quiet: true });
});
