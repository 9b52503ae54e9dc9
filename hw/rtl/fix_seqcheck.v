`default_nettype none
`include "fix_ctx.vh"

// FPGA sequence checker: frames inbound FIX bytes per session, verifies the checksum, and emits
// one 64-byte verdict descriptor per message, bit-identical to gapless_seqcheck::Checker (the
// timestamp is this module's cycle counter).
//
// Stream in: AXI-Stream-like in-order TCP payload. tkeep is contiguous from lane 0; tuser is the
// session and stays constant within a chunk (tlast ends it). A chunk is one read's worth: at its
// end, garbage without a following "8=FIX" is reported as the software checker does when called
// after each read. Beats for sessions >= NUM_SESSIONS are discarded.
//
// Throughput: all lanes of a beat are processed in one cycle, except when a beat yields two
// descriptors (a message and a garbled run, say: one per cycle), when a failed message must
// replay its tail (one byte per cycle from the history), or when the descriptor FIFO could not
// take the records in flight and one more.
//
// Pipeline, three stages: the framing chain (fix_byte_step per lane) frames a message in the
// cycle that accepts its last byte; the field chain (fix_field_step per lane) reads the same
// lanes' body fields in the next cycle; the verdict stage judges the record against the
// session's registers in the cycle after and pushes the descriptor, which is on m_desc_* one
// cycle later: 3 cycles from the accepting edge. Each chain keeps its own per-session context.
//
// Commands (gapless_seqcheck::Command, 16 bytes little-endian) are taken between beats, never
// in the middle of one; a command presented with a beat goes first. Commands the software
// checker refuses (unknown opcode or session, Arm with 0) are ignored. A command waits one
// cycle after a beat that ended a message, so that the message is judged first. Reset also
// clears the session's framing and field contexts and restarts its stream at offset 0 (a new
// connection's bytes).
module fix_seqcheck #(
    parameter integer DATA_W = 64,
    parameter integer NUM_SESSIONS = 4,
    parameter [31:0] MAX_MSG_LEN = 32'd65536,
    parameter integer HIST_BYTES = 65536, // per session: a power of two >= MAX_MSG_LEN
    parameter integer FIFO_DEPTH = 4,
    // Derived widths.
    parameter integer LANES = DATA_W / 8,
    parameter integer LANE_W = $clog2(LANES),
    parameter integer SESSION_W = $clog2(NUM_SESSIONS)
) (
    input  wire              clk,
    input  wire              rst,

    input  wire [DATA_W-1:0] s_tdata,
    input  wire [LANES-1:0]  s_tkeep,
    input  wire              s_tlast,
    input  wire [15:0]       s_tuser,
    input  wire              s_tvalid,
    output wire              s_tready,

    // Only the opcode, session and expected fields are read; the rest is reserved.
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [127:0]      cmd_data,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire              cmd_valid,
    output wire              cmd_ready,

    output wire [511:0]      m_desc_data,
    output wire              m_desc_valid,
    input  wire              m_desc_ready
);
    localparam [15:0] SESSIONS = NUM_SESSIONS[15:0];
    localparam [7:0] OP_ARM = 8'd1, OP_DISARM = 8'd2, OP_RESET = 8'd3;

    // Per-session state.
    reg [`FIX_CTX_W-1:0] ctx_mem [0:NUM_SESSIONS-1];      // framing, read by the front
    reg [`FIX_FIELD_W-1:0] field_mem [0:NUM_SESSIONS-1];  // field syntax, a cycle behind
    reg [63:0] offset_mem [0:NUM_SESSIONS-1];   // stream offset of the next byte to arrive
    reg [63:0] expected_mem [0:NUM_SESSIONS-1];
    reg [NUM_SESSIONS-1:0] armed_reg;

    reg [LANE_W:0]    cursor_reg;     // first lane of the held beat not yet processed
    reg               replay_reg;
    reg [SESSION_W-1:0] replay_session_reg;
    reg [63:0]        replay_pos_reg; // next history byte to replay ...
    reg [63:0]        replay_end_reg; // ... up to and including this one
    reg [63:0]        cycle_reg;

    localparam integer FIFO_PTR_W = $clog2(FIFO_DEPTH);
    wire [FIFO_PTR_W:0] fifo_level;
    reg  field_emit_reg, judge_valid_reg;
    // The FIFO must have room for the records in flight and one more made this cycle.
    wire desc_stall = {{(31 - FIFO_PTR_W) {1'b0}}, fifo_level} + {31'd0, field_emit_reg}
                      + {31'd0, judge_valid_reg} >= FIFO_DEPTH;

    wire between_beats = !replay_reg && cursor_reg == {(LANE_W + 1){1'b0}};
    assign cmd_ready = between_beats && !field_emit_reg;
    wire cmd_fire = cmd_valid && cmd_ready;
    // A command presented between beats goes first, even while it waits.
    wire cmd_first = cmd_valid && between_beats;
    wire [7:0] cmd_opcode = cmd_data[7:0];
    wire [15:0] cmd_session = cmd_data[31:16];
    wire [63:0] cmd_expected = cmd_data[127:64];

    wire live_known = s_tuser < SESSIONS;
    wire drop = !cmd_first && !replay_reg && s_tvalid && !live_known;
    wire run = !desc_stall && !cmd_first && (replay_reg || (s_tvalid && live_known));
    wire [SESSION_W-1:0] session = replay_reg ? replay_session_reg : s_tuser[SESSION_W-1:0];
    wire [63:0] offset = offset_mem[session];

    wire [7:0] hist_byte;

    // The framing chain: each lane's step starts from the previous lane's context. A lane is not
    // taken once one is refused (a second descriptor this cycle) or after a rewind. Each lane
    // also passes on the cycle's one framing record, the rewind, and the lanes taken, and says
    // for the field stage whether it fed the body (`consume`), restarted the message
    // (`restart`), or made the descriptor (`emit_here`).
    localparam integer REC_W = 1 + 64 + 32;
    localparam integer REWIND_W = 1 + 64 + 64;
    wire [`FIX_CTX_W-1:0] chain_ctx;
    wire                  chain_emitted, chain_stopped;
    wire [REC_W-1:0]      chain_rec;
    wire [REWIND_W-1:0]   chain_rewind;
    wire [LANE_W:0]       taken_count;
    wire [LANES*8-1:0]    lane_bytes;
    wire [LANES-1:0]      lane_consume, lane_restart, lane_emit;

    genvar j;
    generate
        for (j = 0; j < LANES; j = j + 1) begin : g_lane
            localparam [LANE_W:0] LANE = j;
            wire [`FIX_CTX_W-1:0] ctx_in, ctx_step, ctx_out;
            wire                  emitted_in, stopped_in, emitted_out, stopped_out;
            wire [REC_W-1:0]      rec_in, rec_step, rec_out;
            wire [REWIND_W-1:0]   rewind_in, rewind_out;
            wire [LANE_W:0]       count_in, count_out;
            if (j == 0) begin : g_first
                assign ctx_in = ctx_mem[session];
                assign emitted_in = 1'b0;
                assign stopped_in = 1'b0;
                assign rec_in = {REC_W{1'b0}};
                assign rewind_in = {REWIND_W{1'b0}};
                assign count_in = {(LANE_W + 1){1'b0}};
            end else begin : g_rest
                assign ctx_in = g_lane[j - 1].ctx_out;
                assign emitted_in = g_lane[j - 1].emitted_out;
                assign stopped_in = g_lane[j - 1].stopped_out;
                assign rec_in = g_lane[j - 1].rec_out;
                assign rewind_in = g_lane[j - 1].rewind_out;
                assign count_in = g_lane[j - 1].count_out;
            end

            wire valid = replay_reg ? (j == 0) : (s_tkeep[j] && LANE >= cursor_reg);
            wire [7:0] lane_byte = replay_reg ? hist_byte : s_tdata[j * 8 +: 8];
            wire emit, garbled, body, load, rewind;
            wire [63:0] start, rewind_from;
            wire [31:0] len;
            fix_byte_step #(.MAX_MSG_LEN(MAX_MSG_LEN)) step (
                .ctx_in(ctx_in), .flush(1'b0), .byte_in(lane_byte), .ctx_out(ctx_step),
                .emit(emit), .emit_garbled(garbled), .emit_start(start), .emit_len(len),
                .body(body), .load(load), .rewind(rewind), .rewind_from(rewind_from)
            );
            assign rec_step = {garbled, start, len};
            wire take = run && valid && !stopped_in && !(emit && emitted_in);
            assign ctx_out = take ? ctx_step : ctx_in;
            assign emitted_out = emitted_in | (take & emit);
            assign stopped_out = stopped_in | (valid & ~take) | (take & rewind);
            assign rec_out = (take && emit) ? rec_step : rec_in;
            assign count_out = count_in + {{LANE_W{1'b0}}, take};
            // The failed message's last byte: replay stops there, then the beat resumes.
            wire [63:0] rewind_at = replay_reg ? replay_end_reg
                                               : offset + {{(64 - LANE_W - 1) {1'b0}}, count_in};
            assign rewind_out = (take && rewind) ? {1'b1, rewind_from, rewind_at} : rewind_in;
            assign lane_bytes[j * 8 +: 8] = lane_byte;
            assign lane_consume[j] = take && body;
            assign lane_restart[j] = take && load;
            assign lane_emit[j] = take && emit;
        end
    endgenerate
    assign chain_ctx = g_lane[LANES - 1].ctx_out;
    assign chain_emitted = g_lane[LANES - 1].emitted_out;
    assign chain_stopped = g_lane[LANES - 1].stopped_out;
    assign chain_rec = g_lane[LANES - 1].rec_out;
    assign chain_rewind = g_lane[LANES - 1].rewind_out;
    assign taken_count = g_lane[LANES - 1].count_out;

    // The chunk end, after the beat's last lane.
    wire [`FIX_CTX_W-1:0] flush_ctx;
    wire flush_emit;
    wire [63:0] flush_start;
    wire [31:0] flush_len;
    /* verilator lint_off UNUSEDSIGNAL */
    // A flush only ever reports garbage, outside any body, and never rewinds.
    wire flush_garbled, flush_body, flush_load, flush_rewind;
    wire [63:0] flush_rewind_from;
    /* verilator lint_on UNUSEDSIGNAL */
    fix_byte_step #(.MAX_MSG_LEN(MAX_MSG_LEN)) flush_step (
        .ctx_in(chain_ctx), .flush(1'b1), .byte_in(8'd0), .ctx_out(flush_ctx),
        .emit(flush_emit), .emit_garbled(flush_garbled), .emit_start(flush_start),
        .emit_len(flush_len), .body(flush_body), .load(flush_load), .rewind(flush_rewind),
        .rewind_from(flush_rewind_from)
    );
    wire flush_wanted = run && !replay_reg && s_tlast && !chain_stopped && flush_emit;
    wire flush_take = flush_wanted && !chain_emitted;
    wire beat_done = run && !replay_reg && !chain_stopped && !(flush_wanted && !flush_take);
    assign s_tready = beat_done || drop;
    wire [`FIX_CTX_W-1:0] ctx_final = flush_take ? flush_ctx : chain_ctx;

    // The one descriptor of this cycle, if any, and the rewind, if any.
    wire any_emit = chain_emitted || flush_take;
    wire [REC_W-1:0] sel_rec = flush_take ? {1'b1, flush_start, flush_len} : chain_rec;
    wire any_rewind;
    wire [63:0] rewind_from, rewind_at;
    assign {any_rewind, rewind_from, rewind_at} = chain_rewind;

    // The field stage: last cycle's lanes through the field-syntax chain of the same session.
    // A message ends on a trailer byte, which is no body byte: the fields it reports are those
    // read before its last lane. A restart (or the flush's) starts the next message's fields.
    reg                 field_run_reg;
    reg [SESSION_W-1:0] field_session_reg;
    reg [LANES*8-1:0]   field_bytes_reg;
    reg [LANES-1:0]     field_consume_reg, field_restart_reg, field_emit_lane_reg;
    reg                 field_flush_restart_reg;
    reg [REC_W-1:0]     field_rec_reg;
    always @(posedge clk) begin
        if (rst) begin
            field_run_reg <= 1'b0;
            field_emit_reg <= 1'b0;
        end else begin
            field_run_reg <= run;
            field_emit_reg <= run && any_emit;
        end
        field_session_reg <= session;
        field_bytes_reg <= lane_bytes;
        field_consume_reg <= lane_consume;
        field_restart_reg <= lane_restart;
        field_emit_lane_reg <= lane_emit;
        field_flush_restart_reg <= flush_take;
        field_rec_reg <= sel_rec;
    end

    localparam integer SUMMARY_W = 1 + 3 + 1 + 1 + 1 + 64 + 64;
    wire [`FIX_FIELD_W-1:0] field_chain;
    wire [SUMMARY_W-1:0]    field_summary;
    generate
        for (j = 0; j < LANES; j = j + 1) begin : g_field
            wire [`FIX_FIELD_W-1:0] fctx_in, fctx_out;
            wire [SUMMARY_W-1:0]    summary_in, summary_out, summary;
            if (j == 0) begin : g_first
                assign fctx_in = field_mem[field_session_reg];
                assign summary_in = {SUMMARY_W{1'b0}};
            end else begin : g_rest
                assign fctx_in = g_field[j - 1].fctx_out;
                assign summary_in = g_field[j - 1].summary_out;
            end
            fix_field_step step (
                .fctx_in(fctx_in), .consume(field_consume_reg[j]),
                .restart(field_restart_reg[j]), .byte_in(field_bytes_reg[j * 8 +: 8]),
                .fctx_out(fctx_out), .summary_garbled(summary[SUMMARY_W - 1]),
                .summary_class(summary[SUMMARY_W - 2 -: 3]),
                .summary_poss_dup(summary[SUMMARY_W - 5]),
                .summary_gap_fill(summary[SUMMARY_W - 6]),
                .summary_seq_ok(summary[SUMMARY_W - 7]), .summary_seq(summary[127:64]),
                .summary_new_seq(summary[63:0])
            );
            assign summary_out = field_emit_lane_reg[j] ? summary : summary_in;
        end
    endgenerate
    assign field_chain = field_flush_restart_reg ? `FIX_FIELD_INIT : g_field[LANES - 1].fctx_out;
    assign field_summary = g_field[LANES - 1].summary_out;

    // The record: garbled if the framing says so (garbage, a dropped message) or the fields do.
    wire rec_frame_garbled;
    wire [63:0] rec_start;
    wire [31:0] rec_len;
    assign {rec_frame_garbled, rec_start, rec_len} = field_rec_reg;
    wire rec_garbled = rec_frame_garbled || field_summary[SUMMARY_W - 1];

    // The verdict stage: the record of last cycle's field stage, judged against its session's
    // registers. A command waits while a record is in the field stage, and is applied after
    // the one being judged here: records and commands take effect in stream order.
    reg [SESSION_W-1:0]   judge_session_reg;
    reg                   judge_garbled_reg;
    reg [63:0]            judge_start_reg;
    reg [31:0]            judge_len_reg;
    reg [SUMMARY_W-2:0]   judge_fields_reg;
    always @(posedge clk) begin
        if (rst) judge_valid_reg <= 1'b0;
        else judge_valid_reg <= field_emit_reg;
        judge_session_reg <= field_session_reg;
        judge_garbled_reg <= rec_garbled;
        judge_start_reg <= rec_start;
        judge_len_reg <= rec_len;
        // A garbled record reports no class, flags or sequence numbers.
        judge_fields_reg <= rec_garbled ? {(SUMMARY_W - 1) {1'b0}}
                                        : field_summary[SUMMARY_W-2:0];
    end

    wire [7:0]  verdict, flags, class_code;
    wire [63:0] seq_out, new_seq_out, expected_next;
    wire        armed_next;
    fix_verdict verdict_logic (
        .garbled(judge_garbled_reg), .msg_class(judge_fields_reg[SUMMARY_W - 2 -: 3]),
        .poss_dup(judge_fields_reg[SUMMARY_W - 5]),
        .gap_fill(judge_fields_reg[SUMMARY_W - 6]),
        .seq_ok(judge_fields_reg[SUMMARY_W - 7]), .seq(judge_fields_reg[127:64]),
        .new_seq(judge_fields_reg[63:0]),
        .armed(armed_reg[judge_session_reg]), .expected(expected_mem[judge_session_reg]),
        .verdict(verdict), .flags(flags), .class_code(class_code), .seq_out(seq_out),
        .new_seq_out(new_seq_out), .armed_next(armed_next), .expected_next(expected_next)
    );

    // gapless_seqcheck::Descriptor, little-endian.
    wire [511:0] descriptor = {64'd0, cycle_reg, 56'd0, class_code, new_seq_out,
                               expected_mem[judge_session_reg], seq_out, flags, verdict,
                               {{(16 - SESSION_W) {1'b0}}, judge_session_reg}, judge_len_reg,
                               judge_start_reg};

    fix_desc_fifo #(.WIDTH(512), .DEPTH(FIFO_DEPTH)) desc_fifo (
        .clk(clk), .rst(rst), .push(judge_valid_reg), .push_data(descriptor),
        .level(fifo_level), .m_valid(m_desc_valid), .m_ready(m_desc_ready),
        .m_data(m_desc_data)
    );

    // Replay: after a rewind, the failed message's bytes from rewind_from to rewind_at, one per
    // cycle. The history is read a cycle ahead, so it is addressed with the next position.
    reg                 replay_next;
    reg [SESSION_W-1:0] replay_session_next;
    reg [63:0]          replay_pos_next, replay_end_next;
    always @* begin
        replay_next = replay_reg;
        replay_session_next = replay_session_reg;
        replay_pos_next = replay_pos_reg;
        replay_end_next = replay_end_reg;
        if (run && any_rewind) begin
            replay_session_next = session;
            replay_pos_next = rewind_from;
            replay_end_next = rewind_at;
            replay_next = rewind_from <= rewind_at;
        end else if (run && replay_reg) begin
            replay_pos_next = replay_pos_reg + 64'd1;
            replay_next = replay_pos_reg != replay_end_reg;
        end
    end

    wire live_write = run && !replay_reg;
    fix_history #(.LANES(LANES), .NUM_SESSIONS(NUM_SESSIONS), .HIST_BYTES(HIST_BYTES)) history (
        .clk(clk), .wr_session(session), .wr_offset(offset), .wr_lane(cursor_reg[LANE_W-1:0]),
        .wr_count(live_write ? taken_count : {(LANE_W + 1){1'b0}}), .wr_data(s_tdata),
        .rd_session(replay_session_next), .rd_offset(replay_pos_next), .rd_byte(hist_byte)
    );

    integer s;
    always @(posedge clk) begin
        if (rst) begin
            for (s = 0; s < NUM_SESSIONS; s = s + 1) begin
                ctx_mem[s] <= {`FIX_CTX_W{1'b0}};
                field_mem[s] <= `FIX_FIELD_INIT;
                offset_mem[s] <= 64'd0;
                expected_mem[s] <= 64'd1;
            end
            armed_reg <= {NUM_SESSIONS{1'b0}};
            cursor_reg <= {(LANE_W + 1){1'b0}};
            replay_reg <= 1'b0;
            cycle_reg <= 64'd0;
        end else begin
            cycle_reg <= cycle_reg + 64'd1;
            replay_reg <= replay_next;
            replay_session_reg <= replay_session_next;
            replay_pos_reg <= replay_pos_next;
            replay_end_reg <= replay_end_next;
            if (judge_valid_reg) begin
                expected_mem[judge_session_reg] <= expected_next;
                armed_reg[judge_session_reg] <= armed_next;
            end
            if (field_run_reg) field_mem[field_session_reg] <= field_chain;
            if (run) begin
                ctx_mem[session] <= ctx_final;
                if (!replay_reg) begin
                    offset_mem[session] <= offset + {{(64 - LANE_W - 1) {1'b0}}, taken_count};
                    cursor_reg <= beat_done ? {(LANE_W + 1){1'b0}} : cursor_reg + taken_count;
                end
            end
            if (cmd_fire && cmd_session < SESSIONS) begin
                case (cmd_opcode)
                    OP_ARM: if (cmd_expected != 64'd0) begin
                        expected_mem[cmd_session[SESSION_W-1:0]] <= cmd_expected;
                        armed_reg[cmd_session[SESSION_W-1:0]] <= 1'b1;
                    end
                    OP_DISARM: armed_reg[cmd_session[SESSION_W-1:0]] <= 1'b0;
                    // A new connection: a new stream, framed from its first byte at offset 0.
                    OP_RESET: begin
                        expected_mem[cmd_session[SESSION_W-1:0]] <= 64'd1;
                        armed_reg[cmd_session[SESSION_W-1:0]] <= 1'b0;
                        ctx_mem[cmd_session[SESSION_W-1:0]] <= {`FIX_CTX_W{1'b0}};
                        field_mem[cmd_session[SESSION_W-1:0]] <= `FIX_FIELD_INIT;
                        offset_mem[cmd_session[SESSION_W-1:0]] <= 64'd0;
                    end
                    default: ;
                endcase
            end
        end
    end
endmodule

`default_nettype wire
