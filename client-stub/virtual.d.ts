// Types of the module the Vite plugin (`aun-worker/vite`) serves. In an app:
//   /// <reference types="aun-worker/virtual" />   (or "types": ["aun-worker/virtual"] in tsconfig)

declare module 'virtual:aun-worker' {
  /** Starts (or joins) the owner as a SharedWorker, bundled by Vite as a same-origin ES chunk. */
  export function shared(name: string): SharedWorker;
  /** Starts the owner as a dedicated module worker (the leader and single rungs). */
  export function dedicated(name: string): Worker;
  /** Both factories, for `connect({ worker: workers })`. */
  const workers: { shared(name: string): SharedWorker; dedicated(name: string): Worker };
  export default workers;
  /** This build's id (`__AUN_BUILD__`). */
  export const build: string;
  /** This build's time, epoch ms (`__AUN_BUILT_AT__`). */
  export const builtAt: number;
}
