// Connection URLs as logs and error messages may show them.

/** The URL with any password replaced by '***', safe for logs and error messages, whatever the input looks like. */
export function redactUrl(url: string): string {
  if (typeof url !== 'string') return '';
  // Greedy to the last '@': a password with a raw '@' in it must not leak its tail as the "host".
  // The scheme is optional so that "user:password@host/db" typed without one is hidden too.
  return url
    .replace(/^((?:[^:/?#@]*:\/\/)?[^:/@?#]*):(?!\/\/).*@/s, '$1:***@')
    .replace(/([?&]password=)[^&]*/gi, '$1***');
}
