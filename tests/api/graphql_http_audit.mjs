// graphql-http's auditServer (GraphQL over HTTP conformance) against one endpoint.
// Usage: node graphql_http_audit.mjs [url]   (default http://127.0.0.1:8000/graphql)
// Needs `graphql-http` and `graphql` resolvable from this file's directory
// (tests/api/test_graphql_http_audit.py copies it next to a cached node_modules).
// Prints one line per audit, a summary line, then "AUDIT_JSON <array>" for machines.
// Exits 0 only if every audit, SHOULDs and MAYs included, is ok.
import { auditServer } from 'graphql-http';

const url = process.argv[2] || process.env.GRAPHQL_URL || 'http://127.0.0.1:8000/graphql';
const results = await auditServer({ url });

const out = [];
for (const r of results) {
  let body = '';
  if (r.status !== 'ok' && r.response) {
    try {
      body = (await r.response.clone().text()).slice(0, 300);
    } catch {
      body = '';
    }
  }
  const reason = r.reason ?? '';
  const status = r.status === 'ok' ? '' : ` -> ${r.response?.status} ${r.response?.headers.get('content-type') ?? ''}`;
  out.push({ id: r.id, name: r.name, status: r.status, reason, body });
  console.log(`${r.status.toUpperCase().padEnd(6)} ${r.id} ${r.name}${status}`);
  if (reason) console.log(`       reason: ${reason}${body ? `; body: ${body}` : ''}`);
}
const count = (s) => out.filter((r) => r.status === s).length;
console.log(`audits: ${out.length}, ok: ${count('ok')}, notice: ${count('notice')}, warn: ${count('warn')}, error: ${count('error')}`);
console.log('AUDIT_JSON ' + JSON.stringify(out));
process.exit(out.length > 0 && out.every((r) => r.status === 'ok') ? 0 : 1);
