// Widths of one session's packed parsing contexts: the framing context, packed by fix_byte_step,
// and the field-syntax context, packed by fix_field_step (the only modules that know their
// layouts); the top level only stores them. All zeros is a fresh framing context at stream
// offset 0; FIX_FIELD_INIT is a fresh field context, before a message's first body byte (in its
// first field, the MsgType: the only bit set, just above fstate and ferr).
`ifndef FIX_CTX_VH
`define FIX_CTX_VH
`define FIX_CTX_W 226
`define FIX_FIELD_W 293
`define FIX_FIELD_INIT {{(`FIX_FIELD_W - 4) {1'b0}}, 4'b1000}
`endif
