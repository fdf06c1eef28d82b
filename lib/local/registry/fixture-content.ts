import { randomBytes } from 'node:crypto';

/**
 * Fixture file contents that compress like real image content: real images are a mix of
 * compiled binaries (barely compressible) and text (configs, scripts, licences, logs; very
 * compressible). Pure zeros or pure random would make compression figures meaningless.
 */

const WORDS = (
  'the kubernetes node container image layer registry manifest digest config service pod ' +
  'network calico weave etcd cluster apiserver scheduler controller proxy kubelet docker ' +
  'volume mount secret token certificate authority request response error warning info debug ' +
  'return function import export const struct interface package module version release build ' +
  'install upgrade restart timeout retry health check endpoint address port protocol tcp udp ' +
  'http https tls json yaml true false null string integer value key name path file directory'
).split(' ');

const CHUNK = 1 << 20;

/** Fraction of bytes that are random (binary-like); the rest is word text. */
export const RANDOM_SHARE = 0.4;

/** A chunk of log/config-like text of exactly `size` bytes, varied so that it is not periodic. */
export function textChunk(size: number): Buffer {
  const parts: string[] = [];
  let length = 0;
  let line = 0;
  while (length < size) {
    const n = 4 + Math.floor(Math.random() * 12);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(Math.random() * WORDS.length)]);
    const text = `${(line++ % 97).toString().padStart(2, '0')}:${Math.floor(Math.random() * 1e6)} ${words.join(' ')}\n`;
    parts.push(text);
    length += text.length;
  }
  return Buffer.from(parts.join('').slice(0, size), 'ascii');
}

/** Exactly `size` bytes in 1 MiB chunks, each chunk a random part followed by a text part. */
export async function* mixedContent(size: number, randomShare = RANDOM_SHARE): AsyncGenerator<Buffer> {
  let left = size;
  while (left > 0) {
    const n = Math.min(CHUNK, left);
    const random = Math.floor(n * randomShare);
    yield Buffer.concat([randomBytes(random), textChunk(n - random)]);
    left -= n;
  }
}
