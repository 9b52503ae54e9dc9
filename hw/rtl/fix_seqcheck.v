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
// replay its tail (one byte per cycle from the history), or when the descriptor FIFO is full.
//
// Pipeline: the lane chain frames a message in the cycle that accepts its last byte and
// registers its record; the verdict stage judges the record against the session's registers in
// the next cycle and pushes the descriptor, which is on m_desc_* one cycle later.
//
// Commands (gapless_seqcheck::Command, 16 bytes little-endian) are taken between beats, never
// in the middle of one; a command presented with a beat goes first. Commands the software
// checker refuses (unknown opcode or session, Arm with 0) are ignored. Reset also clears the
// session's framing context and restarts its stream at offset 0 (a new connection's bytes).
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
    reg [`FIX_CTX_W-1:0] ctx_mem [0:NUM_SESSIONS-1];
    reg [63:0] offset_mem [0:NUM_SESSIONS-1];   // stream offset of the next byte to arrive
    reg [63:0] expected_mem [0:NUM_SESSIONS-1];
    reg [NUM_SESSIONS-1:0] armed_reg;

    reg [LANE_W:0]    cursor_reg;     // first lane of the held beat not yet processed
    reg               replay_reg;
    reg [SESSION_W-1:0] replay_session_reg;
    reg [63:0]        replay_pos_reg; // next history byte to replay ...
    reg [63:0]        replay_end_reg; // ... up to and including this one
    reg [63:0]        cycle_reg;

    wire fifo_full, fifo_almost_full;
    reg  judge_valid_reg;
    // The FIFO must have room for the record being judged and one more made this cycle.
    wire desc_stall = fifo_full || (judge_valid_reg && fifo_almost_full);

    assign cmd_ready = !replay_reg && cursor_reg == {(LANE_W + 1){1'b0}};
    wire cmd_fire = cmd_valid && cmd_ready;
    wire [7:0] cmd_opcode = cmd_data[7:0];
    wire [15:0] cmd_session = cmd_data[31:16];
    wire [63:0] cmd_expected = cmd_data[127:64];

    wire live_known = s_tuser < SESSIONS;
    wire drop = !cmd_fire && !replay_reg && s_tvalid && !live_known;
    wire run = !desc_stall && !cmd_fire && (replay_reg || (s_tvalid && live_known));
    wire [SESSION_W-1:0] session = replay_reg ? replay_session_reg : s_tuser[SESSION_W-1:0];
    wire [63:0] offset = offset_mem[session];

    wire [7:0] hist_byte;

    // The lane chain: each lane's step starts from the previous lane's context. A lane is not
    // taken once one is refused (a second descriptor this cycle) or after a rewind. Each lane
    // also passes on the one descriptor record of the cycle, the rewind, and the lanes taken.
    localparam integer REC_W = 1 + 64 + 32 + 3 + 1 + 1 + 1 + 64 + 64;
    localparam integer REWIND_W = 1 + 64 + 64;
    wire [`FIX_CTX_W-1:0] chain_ctx;
    wire                  chain_emitted, chain_stopped;
    wire [REC_W-1:0]      chain_rec;
    wire [REWIND_W-1:0]   chain_rewind;
    wire [LANE_W:0]       taken_count;

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
            wire emit, garbled, poss_dup, gap_fill, seq_ok, rewind;
            wire [63:0] start, seq, new_seq, rewind_from;
            wire [31:0] len;
            wire [2:0] msg_class;
            fix_byte_step #(.MAX_MSG_LEN(MAX_MSG_LEN)) step (
                .ctx_in(ctx_in), .flush(1'b0), .byte_in(lane_byte), .ctx_out(ctx_step),
                .emit(emit), .emit_garbled(garbled), .emit_start(start), .emit_len(len),
                .emit_class(msg_class), .emit_poss_dup(poss_dup), .emit_gap_fill(gap_fill),
                .emit_seq_ok(seq_ok), .emit_seq(seq), .emit_new_seq(new_seq), .rewind(rewind),
                .rewind_from(rewind_from)
            );
            assign rec_step = {garbled, start, len, msg_class, poss_dup, gap_fill, seq_ok, seq,
                               new_seq};
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
    // A flush only ever reports garbage: no class, flags or sequence numbers, no rewind.
    wire flush_garbled, flush_poss_dup, flush_gap_fill, flush_seq_ok, flush_rewind;
    wire [2:0] flush_class;
    wire [63:0] flush_seq, flush_new_seq, flush_rewind_from;
    /* verilator lint_on UNUSEDSIGNAL */
    fix_byte_step #(.MAX_MSG_LEN(MAX_MSG_LEN)) flush_step (
        .ctx_in(chain_ctx), .flush(1'b1), .byte_in(8'd0), .ctx_out(flush_ctx),
        .emit(flush_emit), .emit_garbled(flush_garbled), .emit_start(flush_start),
        .emit_len(flush_len), .emit_class(flush_class), .emit_poss_dup(flush_poss_dup),
        .emit_gap_fill(flush_gap_fill), .emit_seq_ok(flush_seq_ok), .emit_seq(flush_seq),
        .emit_new_seq(flush_new_seq), .rewind(flush_rewind), .rewind_from(flush_rewind_from)
    );
    wire flush_wanted = run && !replay_reg && s_tlast && !chain_stopped && flush_emit;
    wire flush_take = flush_wanted && !chain_emitted;
    wire beat_done = run && !replay_reg && !chain_stopped && !(flush_wanted && !flush_take);
    assign s_tready = beat_done || drop;
    wire [`FIX_CTX_W-1:0] ctx_final = flush_take ? flush_ctx : chain_ctx;

    // The one descriptor of this cycle, if any, and the rewind, if any.
    wire any_emit = chain_emitted || flush_take;
    wire sel_garbled, sel_poss_dup, sel_gap_fill, sel_seq_ok;
    wire [63:0] sel_start, sel_seq, sel_new_seq;
    wire [31:0] sel_len;
    wire [2:0] sel_class;
    assign {sel_garbled, sel_start, sel_len, sel_class, sel_poss_dup, sel_gap_fill, sel_seq_ok,
            sel_seq, sel_new_seq} = flush_take
        ? {1'b1, flush_start, flush_len, 3'd0, 1'b0, 1'b0, 1'b0, 64'd0, 64'd0} : chain_rec;
    wire any_rewind;
    wire [63:0] rewind_from, rewind_at;
    assign {any_rewind, rewind_from, rewind_at} = chain_rewind;

    // The verdict stage: the record framed last cycle, judged against its session's registers.
    // Records are judged in stream order and a command is applied after the record before it.
    reg [SESSION_W-1:0] judge_session_reg;
    reg                 judge_garbled_reg, judge_poss_dup_reg, judge_gap_fill_reg;
    reg                 judge_seq_ok_reg;
    reg [63:0]          judge_start_reg, judge_seq_reg, judge_new_seq_reg;
    reg [31:0]          judge_len_reg;
    reg [2:0]           judge_class_reg;
    always @(posedge clk) begin
        if (rst) judge_valid_reg <= 1'b0;
        else judge_valid_reg <= run && any_emit;
        judge_session_reg <= session;
        {judge_garbled_reg, judge_start_reg, judge_len_reg, judge_class_reg, judge_poss_dup_reg,
         judge_gap_fill_reg, judge_seq_ok_reg, judge_seq_reg, judge_new_seq_reg}
            <= {sel_garbled, sel_start, sel_len, sel_class, sel_poss_dup, sel_gap_fill,
                sel_seq_ok, sel_seq, sel_new_seq};
    end

    wire [7:0]  verdict, flags, class_code;
    wire [63:0] seq_out, new_seq_out, expected_next;
    wire        armed_next;
    fix_verdict verdict_logic (
        .garbled(judge_garbled_reg), .msg_class(judge_class_reg),
        .poss_dup(judge_poss_dup_reg), .gap_fill(judge_gap_fill_reg),
        .seq_ok(judge_seq_ok_reg), .seq(judge_seq_reg), .new_seq(judge_new_seq_reg),
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
        .full(fifo_full), .almost_full(fifo_almost_full), .m_valid(m_desc_valid),
        .m_ready(m_desc_ready), .m_data(m_desc_data)
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
                    OP_RESET: begin
                        expected_mem[cmd_session[SESSION_W-1:0]] <= 64'd1;
                        armed_reg[cmd_session[SESSION_W-1:0]] <= 1'b0;
                        ctx_mem[cmd_session[SESSION_W-1:0]] <= {`FIX_CTX_W{1'b0}};
                        offset_mem[cmd_session[SESSION_W-1:0]] <= 64'd0;
                    end
                    default: ;
                endcase
            end
        end
    end
endmodule

`default_nettype wire
