// Port I/O as the interpreting VMM emulates it (DESIGN §3.4): port 0xE9 is the console,
// every other port is unconnected. The IOPL check is the executor's (it is CPU state).

const CONSOLE_PORT = 0xe9;

export class GuestPorts {
  /** Console bytes as code points 0–255 (DESIGN §3.10.14); appended per `out`, not per instruction. */
  console = '';

  in(port: number): number {
    return port === CONSOLE_PORT ? 0xe9 : 0xffffffff;
  }

  out(port: number, value: number): void {
    if (port === CONSOLE_PORT) this.console += String.fromCharCode(value & 0xff);
  }
}
