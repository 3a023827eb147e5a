// scripts/browser-bundle.d.mts: types of scripts/browser-bundle.mjs for the TypeScript that imports it.
import type { Plugin } from 'esbuild';

export declare const browserStubs: Plugin;
export declare function bundleForBrowser(entry: string, root: string): Promise<string>;
