// The public face of the reference model (see README.md).
export type * from './observation.ts';
export { REG_NAMES } from './observation.ts';
export { decode, encode, OPCODES, INSN_BYTES } from './isa.ts';
export { assemble, AsmError } from './asm/assemble.ts';
export { disassemble, disassembleInsn } from './asm/disassemble.ts';
export { SpecMachine, runSpec, sortSchedule } from './machine.ts';
export { classifyAll } from './classify.ts';
