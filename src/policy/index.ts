// imago's policy engine: oslo.policy's rule language, Glance's default rules, the
// image authorization helpers of Glance's API layer and property protections.
export * from './parser.js';
export * from './enforcer.js';
export * from './config.js';
export * from './glanceDefaults.js';
export * from './imageAuth.js';
export * from './propertyProtections.js';
