// The catalog's public surface.
export * from './model';
export * from './catalog';
