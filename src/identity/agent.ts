import { connect } from 'node:net';
import { VtError } from '../errors.ts';
import { parsePublicKeyBlob, type SshPublicKey } from './public-key.ts';
import { sshString, u32, WireError, WireReader } from './wire.ts';

/**
 * A client for ssh-agent (RFC 9987, draft-miller-ssh-agent): list the keys a person loaded with
 * ssh-add, and ask the agent to sign with one. The private key never leaves the agent; vt sees
 * only public keys and signatures. One connection per request, bounded in size and time.
 */

const FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;
/** Ask for rsa-sha2-512 rather than SHA-1 `ssh-rsa` signatures from RSA keys. */
const RSA_SHA2_512 = 4;
const MAX_REPLY = 256 * 1024;

/** One key the agent holds; `key` is null (with `unsupported` saying why) for kinds vt cannot use. */
export interface AgentIdentity {
  blob: Buffer;
  comment: string;
  key: SshPublicKey | null;
  unsupported: string | null;
}

function agentError(sock: string, why: string): VtError {
  return new VtError('BAD_INPUT', `ssh-agent at ${sock}: ${why}`, {
    hint: 'Check that the agent runs (ssh-add -l), or point SSH_AUTH_SOCK at it',
  });
}

/** Send one request and read one reply: [type byte, body]. */
function request(sock: string, type: number, body: Buffer, timeoutMs: number): Promise<[number, Buffer]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const conn = connect(sock);
    const fail = (why: string) => {
      conn.destroy();
      reject(agentError(sock, why));
    };
    conn.setTimeout(timeoutMs, () => fail(`no answer within ${Math.round(timeoutMs / 1000)} s`));
    conn.on('error', (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
    conn.on('connect', () => {
      const msg = Buffer.concat([Buffer.from([type]), body]);
      conn.write(Buffer.concat([u32(msg.length), msg]));
    });
    conn.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size > MAX_REPLY + 4) return fail('the reply is too large');
      const all = Buffer.concat(chunks);
      if (all.length < 4) return;
      const len = all.readUInt32BE(0);
      if (len === 0 || len > MAX_REPLY) return fail('a malformed reply');
      if (all.length < 4 + len) return;
      conn.destroy();
      resolve([all[4]!, all.subarray(5, 4 + len)]);
    });
    conn.on('end', () => fail('the agent closed the connection without a full reply'));
  });
}

/** The keys the agent holds, in its order (the order `ssh-add -L` prints). */
export async function agentIdentities(sock: string, timeoutMs = 10_000): Promise<AgentIdentity[]> {
  const [type, body] = await request(sock, REQUEST_IDENTITIES, Buffer.alloc(0), timeoutMs);
  if (type !== IDENTITIES_ANSWER) throw agentError(sock, `refused to list keys (reply ${type})`);
  try {
    const r = new WireReader(body);
    const n = r.u32();
    const out: AgentIdentity[] = [];
    for (let i = 0; i < n; i++) {
      const blob = Buffer.from(r.string());
      const comment = r.string().toString('utf8');
      try {
        out.push({ blob, comment, key: parsePublicKeyBlob(blob, comment), unsupported: null });
      } catch (err) {
        out.push({ blob, comment, key: null, unsupported: (err as Error).message });
      }
    }
    r.end('the key list');
    return out;
  } catch (err) {
    if (err instanceof WireError) throw agentError(sock, `a malformed key list: ${err.message}`);
    throw err;
  }
}

/** Ask the agent to sign `data` with the key `key`; returns the SSH signature blob. */
export async function agentSign(
  sock: string,
  key: SshPublicKey,
  data: Uint8Array,
  timeoutMs = 60_000,
): Promise<Buffer> {
  const flags = key.type === 'ssh-rsa' ? RSA_SHA2_512 : 0;
  const body = Buffer.concat([sshString(key.blob), sshString(data), u32(flags)]);
  const [type, reply] = await request(sock, SIGN_REQUEST, body, timeoutMs);
  if (type === FAILURE)
    throw agentError(sock, 'refused to sign (the key may need confirming, or was removed from the agent)');
  if (type !== SIGN_RESPONSE) throw agentError(sock, `an unexpected reply ${type} to a signing request`);
  try {
    const r = new WireReader(reply);
    const sig = Buffer.from(r.string());
    r.end('the signing reply');
    return sig;
  } catch (err) {
    throw agentError(sock, `a malformed signature: ${(err as Error).message}`);
  }
}
