// Which authority a request is for: the one thing routing must read the same way as the server will.
// RFC 9112 §3.2.2: with an absolute-form target, the target's authority wins and "the proxy MUST
// ignore the received Host header field"; with authority-form (CONNECT) the target is the authority;
// otherwise it is Host. Routing on Host while the target names another authority is the confusion
// "routing smuggling" lives in, so the absolute-form case is read from the target and never from Host.
import type { Http1Head } from './head.ts';

/**
 * The authority (host [":" port]) the request is for, as sent; undefined when there is none to use:
 * no Host (HTTP/1.0), an absolute URI without "//" authority, or one with userinfo (RFC 9110 §4.2.4:
 * a recipient SHOULD treat userinfo in an http(s) URI as an error).
 */
export function requestAuthority(head: Http1Head): string | undefined {
  switch (head.targetForm) {
    case 'authority':
      return head.target;
    case 'absolute': {
      const target = head.target;
      const slashes = target.indexOf('://');
      if (slashes < 0) return undefined;
      const from = slashes + 3;
      let to = from;
      while (to < target.length && target[to] !== '/' && target[to] !== '?' && target[to] !== '#') to++;
      const authority = target.slice(from, to);
      if (authority.length === 0 || authority.includes('@')) return undefined;
      return authority;
    }
    default:
      return head.host;
  }
}
