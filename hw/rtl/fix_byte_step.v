`default_nettype none
`include "fix_ctx.vh"

// One byte of one session's FIX framing state machine: the framing rules of
// gapless_codec::decode (frame.rs) checked a byte at a time, so that an error is found at the
// same byte the software decoder first sees it. Purely combinational; the top level chains one
// instance per byte lane. The body's field syntax is fix_field_step's, a pipeline stage later:
// this step only marks the body bytes (`body`) and where a message ends or is dropped (`load`).
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
    output reg                   body,
    output reg                   load,
    output reg                   rewind,
    output reg  [63:0]           rewind_from
);
    localparam [2:0] PH_B8 = 3'd0, PH_BEQ = 3'd1, PH_BSTR = 3'd2, PH_9 = 3'd3, PH_9EQ = 3'd4,
                     PH_BLEN = 3'd5, PH_BODY = 3'd6, PH_SCAN = 3'd7;
    localparam [7:0] SOH = 8'h01;

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
    wire [2:0]  trk;       // "8=FIX" matched so far (bytes after the first)
    wire        rfound;    // a full "8=FIX" was seen after the first byte ...
    wire [31:0] rpos;      // ... starting here

    assign {rpos, rfound, trk, recv, tbad, tidx, intr, ts, bidx, ndig, blen, cks, phase, pos,
            start} = ctx_in;

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
    reg [2:0]  trk_next;
    reg        rfound_next;
    reg [31:0] rpos_next;

    // Restarting (`load`): a new message at `load_start` whose first `load_len` bytes are
    // "8=FIX"'s.
    reg [63:0] load_start;
    reg [2:0]  load_len;

    // Times ten is written as shifts and an add: a constant multiplier would map to DSPs.
    reg        frame_err, match_now, is_digit, trailer;
    reg [3:0]  digit;
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

    always @* begin
        start_next = start; pos_next = pos; phase_next = phase; cks_next = cks;
        blen_next = blen; ndig_next = ndig; bidx_next = bidx; ts_next = ts;
        intr_next = intr; tidx_next = tidx;
        tbad_next = tbad; recv_next = recv; trk_next = trk; rfound_next = rfound;
        rpos_next = rpos;

        load = 1'b0; load_start = 64'd0; load_len = 3'd0; body = 1'b0;
        emit = 1'b0; emit_garbled = 1'b0; emit_start = start; emit_len = 32'd0;
        rewind = 1'b0; rewind_from = 64'd0;

        frame_err = 1'b0; match_now = 1'b0; trailer = 1'b0;
        is_digit = byte_in >= "0" && byte_in <= "9";
        digit = byte_in[3:0];
        want = 8'd0;

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
                        else phase_next = PH_BODY;
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
                        body = 1'b1;
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
                            // Framed: the field stage says whether its fields are well formed.
                            emit = 1'b1;
                            emit_len = pos + 32'd1;
                            load = 1'b1;
                            load_start = start + {32'd0, emit_len};
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
            tbad_next = 1'b0; recv_next = 10'd0; trk_next = 3'd0; rfound_next = 1'b0;
            rpos_next = 32'd0;
        end

        ctx_out = {rpos_next, rfound_next, trk_next, recv_next, tbad_next, tidx_next, intr_next,
                   ts_next, bidx_next, ndig_next, blen_next, cks_next, phase_next, pos_next,
                   start_next};
    end
endmodule

`default_nettype wire
