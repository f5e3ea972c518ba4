// Entry point for Beeldpost's Mirador bundle (built by build-mirador.mjs into mirador/mirador.min.js).
// Exposes the same API as Mirador's own UMD build as the global `Mirador` (Mirador.viewer(...)).
// Mirador plugins would be imported and re-exported here.
export * from 'mirador';
