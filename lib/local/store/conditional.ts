/**
 * The conditional-write rules AWS S3 applies to PutObject (and CompleteMultipartUpload), which
 * s3rver 3.7.1 ignores: `If-None-Match: *` fails with 412 when the key exists, `If-Match: ETAG`
 * fails with 412 when the current ETag differs and with 404 when the key is absent.
 * Kept pure so the decision can be unit-tested apart from the proxy that applies it.
 */
export type PreconditionOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: 412 | 404; readonly code: string; readonly message: string; readonly condition: string };

export interface PreconditionHeaders {
  readonly ifNoneMatch?: string;
  readonly ifMatch?: string;
}

/** Strips quotes and a weak prefix so "abc", W/"abc" and abc compare equal. */
export function normalizeEtag(etag: string): string {
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

function listMatches(list: string, currentEtag: string): boolean {
  return list.split(',').some((item) => {
    const t = item.trim();
    return t === '*' || normalizeEtag(t) === normalizeEtag(currentEtag);
  });
}

/** Decides a conditional write given the key's current ETag (undefined when the key is absent). */
export function evaluateWritePreconditions(headers: PreconditionHeaders, currentEtag: string | undefined): PreconditionOutcome {
  if (headers.ifMatch !== undefined) {
    if (currentEtag === undefined) {
      return { ok: false, status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.', condition: 'If-Match' };
    }
    if (!listMatches(headers.ifMatch, currentEtag)) {
      return {
        ok: false,
        status: 412,
        code: 'PreconditionFailed',
        message: 'At least one of the pre-conditions you specified did not hold',
        condition: 'If-Match',
      };
    }
  }
  if (headers.ifNoneMatch !== undefined && currentEtag !== undefined && listMatches(headers.ifNoneMatch, currentEtag)) {
    return {
      ok: false,
      status: 412,
      code: 'PreconditionFailed',
      message: 'At least one of the pre-conditions you specified did not hold',
      condition: 'If-None-Match',
    };
  }
  return { ok: true };
}

export function s3ErrorXml(code: string, message: string, extra: Record<string, string> = {}): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${esc(v)}</${k}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message>${fields}</Error>`;
}
