export * from './frames.ts';
export * from './errors.ts';
export * from './methods.ts';
export * from './events.ts';
export * from './canonical.ts';
export * from './bytes.ts';
export * from './tab.ts';
export * from './methods-extra.ts';
