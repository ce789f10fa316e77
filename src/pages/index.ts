// hub-guard's answer pages: what a student or API client sees on a refusal or during maintenance.
export type { PageKind, PageContext, PageAnswer, PageOptions } from './types.js';
export type { MaintenanceTemplate } from './template.js';
export { renderPage } from './render.js';
export { wantsJson } from './negotiate.js';
export { loadMaintenanceTemplate, parseMaintenanceTemplate } from './template.js';
export { clearCookieHeader } from './cookies.js';
