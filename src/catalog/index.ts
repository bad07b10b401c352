// The catalog's public surface.
export * from './model';
export * from './catalog';
export * from './ownership-ledger';
