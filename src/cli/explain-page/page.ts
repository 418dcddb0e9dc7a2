// The `popek explain` page (DESIGN §10): one self-contained HTML file — the data as JSON,
// the script (client.ts, bundled by esbuild at generation time: esbuild comes with tsx)
// and the style inline; no network, so it opens from file://.

import { buildSync } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { PageData } from './model.ts';

const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));

let bundled: string | undefined;
/** The page script, bundled once per process. */
function clientScript(): string {
  bundled ??= buildSync({
    entryPoints: [CLIENT],
    bundle: true,
    write: false,
    format: 'iife',
    minify: true,
    target: 'es2020',
    logLevel: 'silent',
  }).outputFiles[0]!.text;
  return bundled;
}

const STYLE = `
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.35 system-ui, sans-serif; color: #0f172a; background: #f8fafc; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #cbd5e1; padding: 6px 10px; z-index: 1; }
h1 { font-size: 15px; margin: 0 0 4px; } h2 { font-size: 13px; margin: 6px 0; color: #475569; text-transform: uppercase; }
h3 { font-size: 13px; margin: 8px 0 4px; } h4 { font-size: 12px; margin: 4px 0; color: #334155; }
.controls { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
#timeline { width: 100%; height: 48px; display: block; margin-top: 4px; cursor: pointer; background: #f1f5f9; }
main { display: grid; grid-template-columns: minmax(220px, 1fr) minmax(280px, 1fr) minmax(480px, 2.8fr); gap: 10px; padding: 10px; }
main.two { grid-template-columns: minmax(200px, 0.8fr) minmax(460px, 1.6fr) minmax(420px, 2fr); }
.other-fields td { white-space: normal; word-break: break-all; }
@media (max-width: 1100px) { main, main.two { grid-template-columns: 1fr; } }
section { background: #fff; border: 1px solid #e2e8f0; border-radius: 6px; padding: 6px 10px; min-width: 0; overflow-x: auto; }
#listing { list-style: none; margin: 0; padding: 0; font: 12px ui-monospace, monospace; max-height: 75vh; overflow: auto; }
#listing li { white-space: pre; padding: 0 4px; } #listing li.label { color: #7c3aed; }
#listing li.ran { background: #e2e8f0; } #listing li.next { background: #bfdbfe; font-weight: bold; }
#listing li.next::before { content: '▶ '; } .addr { color: #64748b; }
table { border-collapse: collapse; font: 12px ui-monospace, monospace; } td, th { padding: 1px 6px; text-align: left; white-space: nowrap; }
.regs tr.differs td.v { background: #fef3c7; } tr.diverged, .regs tr.diverged td { background: #f5d0fe !important; outline: 2px solid #c026d3; }
.bit { display: inline-block; padding: 0 3px; margin-right: 2px; border-radius: 3px; font-size: 11px; }
.bit.on { background: #dcfce7; color: #166534; } .bit.off { color: #cbd5e1; text-decoration: line-through; }
.pair { display: flex; gap: 10px; flex-wrap: wrap; } .side { flex: 1 1 300px; border-left: 3px solid #cbd5e1; padding-left: 6px; }
.side.shadow { border-color: #2563eb; } .side.ept { border-color: #059669; } .side.guest { border-color: #d97706; }
tr.np td.v { color: #dc2626; } tr.traced td.v { background: #dbeafe; } .fault { color: #dc2626; font-weight: bold; }
.swapped { color: #9333ea; } .note-vmm { color: #1d4ed8; font-weight: 600; } .side.before { opacity: 0.75; border-left-style: dashed; } .traced-note { color: #1d4ed8; } .grid td, .grid th { border: 1px solid #e2e8f0; }
.exits td, .exits th { border-bottom: 1px solid #e2e8f0; } .counters span { display: inline-block; margin-right: 8px; color: #475569; }
.diverge-banner { margin-top: 4px; padding: 4px 8px; background: #fae8ff; border: 1px solid #c026d3; border-radius: 4px; cursor: pointer; }
.walk { border-top: 1px dashed #e2e8f0; } .note { color: #94a3b8; }
`;

/** `</` inside a script element would end it: JSON can always escape it. */
const scriptSafe = (json: string): string => json.replace(/<\//g, '<\\/').replace(/<!--/g, '<\\!--');

export function renderPage(data: PageData): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${data.title.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`)}</title>
<style>${STYLE}</style></head>
<body><div id="app"></div><noscript>popek explain: this page needs JavaScript.</noscript>
<script type="application/json" id="popek-data">${scriptSafe(JSON.stringify(data))}</script>
<script>${scriptSafe(clientScript())}</script>
</body></html>
`;
}
