/** Names of environment variables whose values are treated as secrets. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)/i;
/** Shapes of well-known credentials, caught even when they did not come from the environment. */
const SECRET_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{16,}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g,
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bxox[abpr]-[A-Za-z0-9-]{10,}\b/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];

let cached: { env: NodeJS.ProcessEnv; values: string[] } | null = null;

function secretValues(env: NodeJS.ProcessEnv): string[] {
  if (cached?.env === env) return cached.values;
  const values = Object.entries(env)
    .filter(([k, v]) => SECRET_NAME.test(k) && typeof v === 'string' && v.length >= 6)
    .map(([, v]) => v as string)
    .sort((a, b) => b.length - a.length);
  cached = { env, values };
  return values;
}

/** Replace secrets (values of secret-named env variables, and credential-shaped strings) in text. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const v of secretValues(env)) if (out.includes(v)) out = out.split(v).join('[redacted]');
  for (const re of SECRET_SHAPES) out = out.replace(re, '[redacted]');
  return out;
}

/** Strip terminal control sequences and other control characters (keeping newlines and tabs). */
export function stripControl(text: string): string {
  return text.replace(
    /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*(\u0007|\u001b\\)|[\u0000-\u0008\u000b-\u001f\u007f]/g,
    '',
  );
}
