// A stand-in engine process for the protocol tests (docs/engine-protocol.md): a machine
// that executes nothing — each step retires one "instruction" by advancing eip by 8 and
// icount by 1 — and that misbehaves on purpose in the way argv[2] names. Plain node, so
// that it starts in milliseconds.
//
//   ok            follows the protocol
//   version       answers hello with protocol 2
//   refuse        refuses hello (the engine does not speak the client's version)
//   missing       declares no ram and no device fields
//   omit          declares every field but leaves `cr4` out of step's observation
//   die           writes to stderr and exits with code 3 at the first step
//   garbage       answers the first step with a line that is not JSON
//   hang          never answers the first step
//   wrong-id      answers the first step with another request's id
//   bad-field     answers the first step with eip = -1
//   exit-at-start exits with code 1 before reading anything

import { createInterface } from 'node:readline';

const mode = process.argv[2] ?? 'ok';
const FIELDS = [
  'status',
  'icount',
  'regs',
  'eip',
  'eflags',
  'cpl',
  'cr0',
  'cr2',
  'cr3',
  'cr4',
  'idtr',
  'tr',
  'ram',
  'console',
  'device',
  'trace',
  'pending',
];
const EVENTS = ['irq', 'swap-out', 'migrate', 'evict-shadow', 'flush-tlb', 'reclaim', 'switch-vm'];

if (mode === 'exit-at-start') {
  process.stderr.write('fake: cannot start on purpose\n');
  process.exit(1);
}

let machine;
const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function observation(first) {
  const o = {
    status: 'running',
    icount: machine.icount,
    regs: { eax: 0, ecx: 0, edx: 0, ebx: 0, esp: 0, ebp: 0, esi: 0, edi: 0 },
    eip: machine.eip,
    eflags: 2,
    cpl: 0,
    cr0: 1,
    cr2: 0,
    cr3: 0,
    cr4: 0,
    idtr: { base: 0, limit: 0 },
    tr: 0,
    // The image's first page, once: the client keeps what it was sent.
    ram: { pages: first ? [[0, Buffer.from(machine.page0).toString('base64')]] : [] },
    console: '',
    device: { counter: 0, log: [] },
    trace: [],
    pending: [],
  };
  if (mode === 'missing') {
    delete o.ram;
    delete o.device;
  }
  if (mode === 'omit') delete o.cr4;
  if (mode === 'bad-field') o.eip = -1;
  return o;
}

for await (const line of createInterface({ input: process.stdin })) {
  const req = JSON.parse(line);
  const { id, op } = req;
  if (op === 'hello') {
    if (mode === 'refuse') send({ id, ok: false, error: `protocol ${req.protocol} is not spoken here` });
    else
      send({
        id,
        ok: true,
        protocol: mode === 'version' ? 2 : 1,
        engine: `fake-${mode}`,
        capabilities: {
          step: true,
          events: EVENTS,
          fields: mode === 'missing' ? FIELDS.filter((f) => f !== 'ram' && f !== 'device') : FIELDS,
        },
      });
  } else if (op === 'load') {
    const page0 = new Uint8Array(4096);
    for (const c of req.image.chunks) if (c.addr < 4096) page0.set(Buffer.from(c.data, 'base64').subarray(0, 4096 - c.addr), c.addr);
    machine = { eip: req.image.entry, icount: 0, page0, sent: false };
    send({ id, ok: true });
  } else if (op === 'step') {
    if (mode === 'die') {
      process.stderr.write('fake: dying on purpose\n');
      process.exit(3);
    }
    if (mode === 'hang') {
      process.stderr.write('fake: hanging on purpose\n');
      continue;
    }
    if (mode === 'garbage') {
      process.stdout.write('this is not json\n');
      continue;
    }
    machine.eip += 8;
    machine.icount++;
    const first = !machine.sent;
    machine.sent = true;
    send({ id: mode === 'wrong-id' ? id + 1 : id, ok: true, outcome: 'retired', observation: observation(first) });
  } else if (op === 'observe' || op === 'run') {
    const first = !machine.sent;
    machine.sent = true;
    send({ id, ok: true, observation: observation(first) });
  } else if (op === 'fire' || op === 'reset') send({ id, ok: true });
  else if (op === 'counters') send({ id, ok: true, counters: { steps: machine.icount } });
  else if (op === 'bye') {
    send({ id, ok: true });
    break;
  } else send({ id, ok: false, error: `unknown op ${op}` });
}
