// Width of one session's parsing context, packed by fix_byte_step (the only module that knows
// its layout); the top level only stores it. All zeros is a fresh context at stream offset 0.
`ifndef FIX_CTX_VH
`define FIX_CTX_VH
`define FIX_CTX_W 519
`endif
