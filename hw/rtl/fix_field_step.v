`default_nettype none
`include "fix_ctx.vh"

// One byte of one session's field-syntax machine: the body's tag=value fields as
// gapless_codec::decode (message.rs) reads them, and the fields the verdict needs (MsgType,
// MsgSeqNum, NewSeqNo, PossDupFlag, GapFillFlag). Purely combinational; the top level chains one
// instance per byte lane, one pipeline stage after the framing (fix_byte_step), which says for
// each byte whether it is a body byte (`consume`) and whether a message ended or was dropped at
// it (`restart`). Framing never depends on this machine, so it can run a cycle behind.
//
// `summary_*` describe the fields read so far (from fctx_in): what a message ending here reports.
module fix_field_step (
    input  wire [`FIX_FIELD_W-1:0] fctx_in,
    input  wire                    consume,
    input  wire                    restart,
    input  wire [7:0]              byte_in,
    output reg  [`FIX_FIELD_W-1:0] fctx_out,
    output wire                    summary_garbled,
    output wire [2:0]              summary_class,
    output wire                    summary_poss_dup,
    output wire                    summary_gap_fill,
    output wire                    summary_seq_ok,
    output wire [63:0]             summary_seq,
    output wire [63:0]             summary_new_seq
);
    localparam [1:0] F_TAG_START = 2'd0, F_TAG = 2'd1, F_VALUE = 2'd2, F_DATA = 2'd3;
    localparam [7:0] SOH = 8'h01;
    localparam [2:0] CLASS_APPLICATION = 3'd0;

    // The context, field by field (order shared by the unpack and the packs below).
    wire [1:0]  fstate;    // field-syntax state
    wire        ferr;      // field-syntax error seen
    wire        first;     // in the first body field (MsgType)
    wire [31:0] tag;
    wire [63:0] vnum;      // value as an unsigned integer
    wire        vbad;      // value is not a valid u64
    wire [1:0]  vlen;      // value length, saturating at 2
    wire [7:0]  vfirst;    // value's first byte
    wire        pend;      // the previous field was a data length
    wire [10:0] ptag;      // ... for this data tag
    wire [31:0] drem;      // data bytes left (or pending length)
    wire        seen34, seq_ok, seen36, seen43, poss_dup, seen123, gap_fill;
    wire [63:0] seq, new_seq;
    wire [2:0]  msg_class;

    assign {msg_class, gap_fill, seen123, poss_dup, seen43, new_seq, seen36, seq, seq_ok, seen34,
            drem, ptag, pend, vfirst, vlen, vbad, vnum, tag, first, ferr, fstate} = fctx_in;

    // Framed, but not tag=value fields: only this message is lost.
    assign summary_garbled = ferr || fstate != F_TAG_START;
    assign summary_class = msg_class;
    assign summary_poss_dup = poss_dup;
    assign summary_gap_fill = gap_fill;
    assign summary_seq_ok = seen34 && seq_ok;
    assign summary_seq = seq;
    assign summary_new_seq = new_seq;

    reg [1:0]  fstate_next;
    reg        ferr_next;
    reg        first_next;
    reg [31:0] tag_next;
    reg [63:0] vnum_next;
    reg        vbad_next;
    reg [1:0]  vlen_next;
    reg [7:0]  vfirst_next;
    reg        pend_next;
    reg [10:0] ptag_next;
    reg [31:0] drem_next;
    reg        seen34_next, seq_ok_next, seen36_next, seen43_next, poss_dup_next;
    reg        seen123_next, gap_fill_next;
    reg [63:0] seq_next, new_seq_next;
    reg [2:0]  msg_class_next;

    // Times ten is written as shifts and an add: a constant multiplier would map to DSPs.
    reg        is_digit;
    reg [3:0]  digit;
    reg [35:0] tag_wide;
    reg [67:0] vnum_wide;
    reg [11:0] data_tag;

    // gapless_codec::DATA_FIELDS: {is a data-length tag, its data tag}.
    function [11:0] data_tag_for_length(input [31:0] length_tag);
        case (length_tag)
            32'd90:   data_tag_for_length = {1'b1, 11'd91};
            32'd93:   data_tag_for_length = {1'b1, 11'd89};
            32'd95:   data_tag_for_length = {1'b1, 11'd96};
            32'd212:  data_tag_for_length = {1'b1, 11'd213};
            32'd348:  data_tag_for_length = {1'b1, 11'd349};
            32'd350:  data_tag_for_length = {1'b1, 11'd351};
            32'd352:  data_tag_for_length = {1'b1, 11'd353};
            32'd354:  data_tag_for_length = {1'b1, 11'd355};
            32'd356:  data_tag_for_length = {1'b1, 11'd357};
            32'd358:  data_tag_for_length = {1'b1, 11'd359};
            32'd360:  data_tag_for_length = {1'b1, 11'd361};
            32'd362:  data_tag_for_length = {1'b1, 11'd363};
            32'd364:  data_tag_for_length = {1'b1, 11'd365};
            32'd445:  data_tag_for_length = {1'b1, 11'd446};
            32'd618:  data_tag_for_length = {1'b1, 11'd619};
            32'd621:  data_tag_for_length = {1'b1, 11'd622};
            32'd1184: data_tag_for_length = {1'b1, 11'd1185};
            32'd1277: data_tag_for_length = {1'b1, 11'd1278};
            32'd1280: data_tag_for_length = {1'b1, 11'd1281};
            32'd1282: data_tag_for_length = {1'b1, 11'd1283};
            32'd1397: data_tag_for_length = {1'b1, 11'd1398};
            32'd1401: data_tag_for_length = {1'b1, 11'd1402};
            32'd1403: data_tag_for_length = {1'b1, 11'd1404};
            32'd1468: data_tag_for_length = {1'b1, 11'd1469};
            default:  data_tag_for_length = 12'd0;
        endcase
    endfunction

    // seqcheck::MsgClass::of: one-byte session-level MsgTypes, everything else Application.
    function [2:0] class_of(input [1:0] len, input [7:0] first_byte);
        if (len != 2'd1) class_of = CLASS_APPLICATION;
        else case (first_byte)
            "0": class_of = 3'd1;
            "1": class_of = 3'd2;
            "2": class_of = 3'd3;
            "3": class_of = 3'd4;
            "4": class_of = 3'd5;
            "5": class_of = 3'd6;
            "A": class_of = 3'd7;
            default: class_of = CLASS_APPLICATION;
        endcase
    endfunction

    always @* begin
        fstate_next = fstate; ferr_next = ferr; first_next = first; tag_next = tag;
        vnum_next = vnum; vbad_next = vbad; vlen_next = vlen; vfirst_next = vfirst;
        pend_next = pend; ptag_next = ptag; drem_next = drem; seen34_next = seen34;
        seq_ok_next = seq_ok; seq_next = seq; seen36_next = seen36; new_seq_next = new_seq;
        seen43_next = seen43; poss_dup_next = poss_dup; seen123_next = seen123;
        gap_fill_next = gap_fill; msg_class_next = msg_class;

        is_digit = byte_in >= "0" && byte_in <= "9";
        digit = byte_in[3:0];
        tag_wide = 36'd0; vnum_wide = 68'd0; data_tag = 12'd0;

        if (consume && !ferr) begin
            case (fstate)
                F_TAG_START: begin
                    // A tag is a positive integer without leading zeros.
                    if (is_digit && byte_in != "0") begin
                        tag_next = {28'd0, digit};
                        fstate_next = F_TAG;
                    end else ferr_next = 1'b1;
                end
                F_TAG: begin
                    if (is_digit) begin
                        tag_wide = ({4'd0, tag} << 3) + ({4'd0, tag} << 1) + {32'd0, digit};
                        tag_next = tag_wide[31:0];
                        if (tag_wide[35:32] != 4'd0) ferr_next = 1'b1;
                    end else if (byte_in == "=") begin
                        fstate_next = (pend && tag == {21'd0, ptag}) ? F_DATA : F_VALUE;
                        pend_next = 1'b0;
                        vnum_next = 64'd0; vbad_next = 1'b0;
                        vlen_next = 2'd0; vfirst_next = 8'd0;
                    end else ferr_next = 1'b1;
                end
                F_VALUE: begin
                    if (byte_in == SOH) begin
                        fstate_next = F_TAG_START;
                        if (first) begin
                            msg_class_next = class_of(vlen, vfirst);
                            first_next = 1'b0;
                        end
                        // The first occurrence of each tag wins.
                        if (tag == 32'd34 && !seen34) begin
                            seen34_next = 1'b1;
                            seq_ok_next = vlen != 2'd0 && !vbad;
                            seq_next = vnum;
                        end
                        if (tag == 32'd36 && !seen36) begin
                            seen36_next = 1'b1;
                            new_seq_next = (vlen != 2'd0 && !vbad) ? vnum : 64'd0;
                        end
                        if (tag == 32'd43 && !seen43) begin
                            seen43_next = 1'b1;
                            poss_dup_next = vlen == 2'd1 && vfirst == "Y";
                        end
                        if (tag == 32'd123 && !seen123) begin
                            seen123_next = 1'b1;
                            gap_fill_next = vlen == 2'd1 && vfirst == "Y";
                        end
                        data_tag = data_tag_for_length(tag);
                        if (data_tag[11]) begin
                            if (vlen == 2'd0 || vbad) ferr_next = 1'b1;
                            else begin
                                pend_next = 1'b1;
                                ptag_next = data_tag[10:0];
                                // Any length past 32 bits overruns the message.
                                drem_next = vnum[63:32] != 32'd0 ? 32'hffff_ffff : vnum[31:0];
                            end
                        end
                    end else begin
                        if (vlen == 2'd0) vfirst_next = byte_in;
                        if (vlen != 2'd2) vlen_next = vlen + 2'd1;
                        if (is_digit) begin
                            vnum_wide = ({4'd0, vnum} << 3) + ({4'd0, vnum} << 1)
                                        + {64'd0, digit};
                            vnum_next = vnum_wide[63:0];
                            if (vnum_wide[67:64] != 4'd0) vbad_next = 1'b1;
                        end else vbad_next = 1'b1;
                    end
                end
                default: begin // F_DATA: read by length, then SOH
                    if (drem != 32'd0) drem_next = drem - 32'd1;
                    else if (byte_in == SOH) fstate_next = F_TAG_START;
                    else ferr_next = 1'b1;
                end
            endcase
        end

        if (restart) fctx_out = `FIX_FIELD_INIT;
        else fctx_out = {msg_class_next, gap_fill_next, seen123_next, poss_dup_next, seen43_next,
                         new_seq_next, seen36_next, seq_next, seq_ok_next, seen34_next, drem_next,
                         ptag_next, pend_next, vfirst_next, vlen_next, vbad_next, vnum_next,
                         tag_next, first_next, ferr_next, fstate_next};
    end
endmodule

`default_nettype wire
