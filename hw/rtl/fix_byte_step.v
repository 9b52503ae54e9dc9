`default_nettype none
`include "fix_ctx.vh"

// One byte of one session's FIX framing and field-syntax state machine: the rules of
// gapless_codec::decode (frame.rs, message.rs) checked a byte at a time, so that an error is
// found at the same byte the software decoder first sees it. Purely combinational; the top level
// chains one instance per byte lane.
//
// Resynchronisation follows the software: after a framing error the next message starts at the
// first "8=FIX" after the failed message's first byte. If that "8=FIX" was already seen (a
// truncated message followed by the next one), the step asks the top level to replay the bytes
// after it (`rewind`); otherwise it scans forward (PH_SCAN), and a chunk end (`flush`) drops all
// but a tail that may begin "8=FIX".
module fix_byte_step #(
    parameter [31:0] MAX_MSG_LEN = 32'd65536
) (
    input  wire [`FIX_CTX_W-1:0] ctx_in,
    input  wire                  flush,
    input  wire [7:0]            byte_in,
    output reg  [`FIX_CTX_W-1:0] ctx_out,
    output reg                   emit,
    output reg                   emit_garbled,
    output reg  [63:0]           emit_start,
    output reg  [31:0]           emit_len,
    output reg  [2:0]            emit_class,
    output reg                   emit_poss_dup,
    output reg                   emit_gap_fill,
    output reg                   emit_seq_ok,
    output reg  [63:0]           emit_seq,
    output reg  [63:0]           emit_new_seq,
    output reg                   rewind,
    output reg  [63:0]           rewind_from
);
    localparam [2:0] PH_B8 = 3'd0, PH_BEQ = 3'd1, PH_BSTR = 3'd2, PH_9 = 3'd3, PH_9EQ = 3'd4,
                     PH_BLEN = 3'd5, PH_BODY = 3'd6, PH_SCAN = 3'd7;
    localparam [1:0] F_TAG_START = 2'd0, F_TAG = 2'd1, F_VALUE = 2'd2, F_DATA = 2'd3;
    localparam [7:0] SOH = 8'h01;
    localparam [2:0] CLASS_APPLICATION = 3'd0;

    // The context, field by field (order shared by the unpack and the pack below).
    wire [63:0] start;     // stream offset of the message's (or garbage's) first byte
    wire [31:0] pos;       // offset of this byte within the message
    wire [2:0]  phase;
    wire [7:0]  cks;       // sum of the bytes before the trailer
    wire [29:0] blen;      // BodyLength (at most 9 digits)
    wire [3:0]  ndig;      // BodyLength digits seen
    wire [1:0]  bidx;      // body bytes seen, saturating at 3 (the body starts "35=")
    wire [31:0] ts;        // offset of the trailer ("10=")
    wire        intr;      // past the trailer's first byte ...
    wire [2:0]  tidx;      // ... and trailer bytes seen
    wire        tbad;      // the trailer or the SOH before it is malformed
    wire [9:0]  recv;      // received CheckSum digits
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
    wire [2:0]  trk;       // "8=FIX" matched so far (bytes after the first)
    wire        rfound;    // a full "8=FIX" was seen after the first byte ...
    wire [31:0] rpos;      // ... starting here

    assign {rpos, rfound, trk, msg_class, gap_fill, seen123, poss_dup, seen43, new_seq, seen36,
            seq, seq_ok, seen34, drem, ptag, pend, vfirst, vlen, vbad, vnum, tag, first, ferr,
            fstate, recv, tbad, tidx, intr, ts, bidx, ndig, blen, cks, phase, pos, start} = ctx_in;

    reg [63:0] start_next;
    reg [31:0] pos_next;
    reg [2:0]  phase_next;
    reg [7:0]  cks_next;
    reg [29:0] blen_next;
    reg [3:0]  ndig_next;
    reg [1:0]  bidx_next;
    reg [31:0] ts_next;
    reg        intr_next;
    reg [2:0]  tidx_next;
    reg        tbad_next;
    reg [9:0]  recv_next;
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
    reg [2:0]  trk_next;
    reg        rfound_next;
    reg [31:0] rpos_next;

    // Restarting: a new message at `load_start` whose first `load_len` bytes are "8=FIX"'s.
    reg        load;
    reg [63:0] load_start;
    reg [2:0]  load_len;

    // Times ten is written as shifts and an add: a constant multiplier would map to DSPs.
    reg        frame_err, match_now, is_digit, trailer;
    reg [3:0]  digit;
    reg [35:0] tag_wide;
    reg [67:0] vnum_wide;
    reg [11:0] data_tag;
    reg [7:0]  want;

    // Checksum of the first k bytes of "8=FIX".
    function [7:0] prefix_sum(input [2:0] k);
        case (k)
            3'd0: prefix_sum = 8'd0;
            3'd1: prefix_sum = 8'd56;
            3'd2: prefix_sum = 8'd117;
            3'd3: prefix_sum = 8'd187;
            3'd4: prefix_sum = 8'd4;
            default: prefix_sum = 8'd92;
        endcase
    endfunction

    // "8=FIX"[k] for k = 1..4; the match restarts on '8' separately.
    function [7:0] pattern(input [2:0] k);
        case (k)
            3'd1: pattern = "=";
            3'd2: pattern = "F";
            3'd3: pattern = "I";
            3'd4: pattern = "X";
            default: pattern = "8";
        endcase
    endfunction

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
        start_next = start; pos_next = pos; phase_next = phase; cks_next = cks;
        blen_next = blen; ndig_next = ndig; bidx_next = bidx; ts_next = ts;
        intr_next = intr; tidx_next = tidx;
        tbad_next = tbad; recv_next = recv; fstate_next = fstate; ferr_next = ferr;
        first_next = first; tag_next = tag; vnum_next = vnum; vbad_next = vbad;
        vlen_next = vlen; vfirst_next = vfirst; pend_next = pend; ptag_next = ptag;
        drem_next = drem; seen34_next = seen34; seq_ok_next = seq_ok; seq_next = seq;
        seen36_next = seen36; new_seq_next = new_seq; seen43_next = seen43;
        poss_dup_next = poss_dup; seen123_next = seen123; gap_fill_next = gap_fill;
        msg_class_next = msg_class; trk_next = trk; rfound_next = rfound; rpos_next = rpos;

        load = 1'b0; load_start = 64'd0; load_len = 3'd0;
        emit = 1'b0; emit_garbled = 1'b0; emit_start = start; emit_len = 32'd0;
        emit_class = 3'd0; emit_poss_dup = 1'b0; emit_gap_fill = 1'b0; emit_seq_ok = 1'b0;
        emit_seq = 64'd0; emit_new_seq = 64'd0; rewind = 1'b0; rewind_from = 64'd0;

        frame_err = 1'b0; match_now = 1'b0; trailer = 1'b0;
        is_digit = byte_in >= "0" && byte_in <= "9";
        digit = byte_in[3:0];
        tag_wide = 36'd0; vnum_wide = 68'd0; data_tag = 12'd0; want = 8'd0;

        if (flush) begin
            // The chunk ends inside garbage: discard all but a tail that may begin "8=FIX".
            if (phase == PH_SCAN) begin
                emit = 1'b1; emit_garbled = 1'b1; emit_len = pos - {29'd0, trk};
                load = 1'b1; load_start = start + {32'd0, emit_len}; load_len = trk;
            end
        end else begin
            pos_next = pos + 32'd1;
            // Where to resynchronise: the first "8=FIX" that starts after the first byte.
            if (pos != 32'd0 && !rfound) begin
                if (trk == 3'd4 && byte_in == "X") begin
                    match_now = 1'b1; trk_next = 3'd0;
                end else if (byte_in == "8") trk_next = 3'd1;
                else if (byte_in == pattern(trk)) trk_next = trk + 3'd1;
                else trk_next = 3'd0;
            end

            case (phase)
                PH_B8: begin
                    cks_next = cks + byte_in;
                    if (byte_in == "8") phase_next = PH_BEQ; else frame_err = 1'b1;
                end
                PH_BEQ: begin
                    cks_next = cks + byte_in;
                    if (byte_in == "=") phase_next = PH_BSTR; else frame_err = 1'b1;
                end
                PH_BSTR: begin
                    // BeginString: 1 to 16 bytes, then SOH.
                    cks_next = cks + byte_in;
                    if (byte_in == SOH) begin
                        if (pos == 32'd2) frame_err = 1'b1; else phase_next = PH_9;
                    end else if (pos == 32'd18) frame_err = 1'b1;
                end
                PH_9: begin
                    cks_next = cks + byte_in;
                    if (byte_in == "9") phase_next = PH_9EQ; else frame_err = 1'b1;
                end
                PH_9EQ: begin
                    cks_next = cks + byte_in;
                    if (byte_in == "=") phase_next = PH_BLEN; else frame_err = 1'b1;
                end
                PH_BLEN: begin
                    // BodyLength: 1 to 9 digits, then SOH; the message must fit MAX_MSG_LEN.
                    cks_next = cks + byte_in;
                    if (byte_in == SOH && ndig != 4'd0) begin
                        ts_next = pos + 32'd1 + {2'd0, blen};
                        if ({1'b0, ts_next} + 33'd7 > {1'b0, MAX_MSG_LEN}) frame_err = 1'b1;
                        else begin
                            phase_next = PH_BODY;
                            first_next = 1'b1;
                        end
                    end else if (is_digit && ndig != 4'd9) begin
                        ndig_next = ndig + 4'd1;
                        blen_next = (blen << 3) + (blen << 1) + {26'd0, digit};
                    end else frame_err = 1'b1;
                end
                PH_BODY: begin
                    // Small counters and one equality stand in for comparing offsets, which
                    // would put wide subtracters on the lane chain.
                    if (bidx != 2'd3) begin
                        want = bidx == 2'd0 ? "3" : bidx == 2'd1 ? "5" : "=";
                        if (byte_in != want) frame_err = 1'b1;
                        bidx_next = bidx + 2'd1;
                    end
                    trailer = intr || pos == ts;
                    if (!trailer) begin
                        cks_next = cks + byte_in;
                        if (!ferr) begin
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
                                        tag_wide = ({4'd0, tag} << 3) + ({4'd0, tag} << 1)
                                                   + {32'd0, digit};
                                        tag_next = tag_wide[31:0];
                                        if (tag_wide[35:32] != 4'd0) ferr_next = 1'b1;
                                    end else if (byte_in == "=") begin
                                        fstate_next = (pend && tag == {21'd0, ptag}) ? F_DATA
                                                                                    : F_VALUE;
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
                                                drem_next = vnum[63:32] != 32'd0 ? 32'hffff_ffff
                                                                                 : vnum[31:0];
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
                    end
                    // The body ends with SOH, then "10=nnn" SOH.
                    if (pos + 32'd1 == ts && byte_in != SOH) tbad_next = 1'b1;
                    if (trailer) begin
                        intr_next = 1'b1;
                        tidx_next = tidx + 3'd1;
                        case (tidx)
                            3'd0: if (byte_in != "1") tbad_next = 1'b1;
                            3'd1: if (byte_in != "0") tbad_next = 1'b1;
                            3'd2: if (byte_in != "=") tbad_next = 1'b1;
                            3'd6: if (byte_in != SOH) tbad_next = 1'b1;
                            default: begin
                                if (is_digit) recv_next = (recv << 3) + (recv << 1) + {6'd0, digit};
                                else tbad_next = 1'b1;
                            end
                        endcase
                    end
                    if (!frame_err && trailer && tidx == 3'd6) begin
                        if (blen < 30'd5 || tbad_next || recv_next != {2'd0, cks_next}) begin
                            frame_err = 1'b1;
                        end else begin
                            emit = 1'b1;
                            emit_len = pos + 32'd1;
                            load = 1'b1;
                            load_start = start + {32'd0, emit_len};
                            if (ferr_next || fstate_next != F_TAG_START) begin
                                // Framed, but not tag=value fields: only this message is lost.
                                emit_garbled = 1'b1;
                            end else begin
                                emit_class = msg_class_next;
                                emit_poss_dup = poss_dup_next;
                                emit_gap_fill = gap_fill_next;
                                emit_seq_ok = seen34_next && seq_ok_next;
                                emit_seq = seq_next;
                                emit_new_seq = new_seq_next;
                            end
                        end
                    end
                end
                default: begin // PH_SCAN: garbage until the next "8=FIX"
                    if (match_now) begin
                        emit = 1'b1; emit_garbled = 1'b1; emit_len = pos - 32'd4;
                        load = 1'b1; load_start = start + {32'd0, emit_len}; load_len = 3'd5;
                    end
                end
            endcase

            if (match_now && phase != PH_SCAN) begin
                rfound_next = 1'b1;
                rpos_next = pos - 32'd4;
            end
            if (frame_err) begin
                if (rfound_next) begin
                    // The next message began inside this one: replay from just after its "8=FIX".
                    emit = 1'b1; emit_garbled = 1'b1; emit_len = rpos_next;
                    load = 1'b1; load_start = start + {32'd0, rpos_next}; load_len = 3'd5;
                    rewind = 1'b1; rewind_from = load_start + 64'd5;
                end else phase_next = PH_SCAN;
            end
        end

        if (load) begin
            start_next = load_start;
            pos_next = {29'd0, load_len};
            phase_next = load_len == 3'd0 ? PH_B8 : load_len == 3'd1 ? PH_BEQ : PH_BSTR;
            cks_next = prefix_sum(load_len);
            blen_next = 30'd0; ndig_next = 4'd0; bidx_next = 2'd0; ts_next = 32'd0;
            intr_next = 1'b0; tidx_next = 3'd0;
            tbad_next = 1'b0; recv_next = 10'd0; fstate_next = F_TAG_START; ferr_next = 1'b0;
            first_next = 1'b0; tag_next = 32'd0; vnum_next = 64'd0; vbad_next = 1'b0;
            vlen_next = 2'd0; vfirst_next = 8'd0; pend_next = 1'b0; ptag_next = 11'd0;
            drem_next = 32'd0; seen34_next = 1'b0; seq_ok_next = 1'b0; seq_next = 64'd0;
            seen36_next = 1'b0; new_seq_next = 64'd0; seen43_next = 1'b0;
            poss_dup_next = 1'b0; seen123_next = 1'b0; gap_fill_next = 1'b0;
            msg_class_next = CLASS_APPLICATION; trk_next = 3'd0; rfound_next = 1'b0;
            rpos_next = 32'd0;
        end

        ctx_out = {rpos_next, rfound_next, trk_next, msg_class_next, gap_fill_next,
                   seen123_next, poss_dup_next, seen43_next, new_seq_next, seen36_next,
                   seq_next, seq_ok_next, seen34_next, drem_next, ptag_next, pend_next,
                   vfirst_next, vlen_next, vbad_next, vnum_next, tag_next, first_next,
                   ferr_next, fstate_next, recv_next, tbad_next, tidx_next, intr_next, ts_next,
                   bidx_next, ndig_next, blen_next, cks_next, phase_next, pos_next, start_next};
    end
endmodule

`default_nettype wire
