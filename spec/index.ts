// The public face of the reference model (see README.md).
export type * from './observation.ts';
export { decode, encode, OPCODES, INSN_BYTES } from './isa.ts';
