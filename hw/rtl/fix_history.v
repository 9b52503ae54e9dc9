`default_nettype none

// The bytes each session received recently, kept so that the parser can replay the part of a
// failed message that holds the next message (a truncated message followed by a whole one).
// One byte-wide bank per lane, so a beat's bytes are written in one cycle at any alignment:
// the byte at stream offset o lives in bank o % LANES. Reads are synchronous (block RAM): the
// byte at rd_offset is on rd_byte in the next cycle, including a byte written in this one.
module fix_history #(
    parameter integer LANES = 8,
    parameter integer NUM_SESSIONS = 4,
    parameter integer HIST_BYTES = 65536, // per session, a power of two
    // Derived widths.
    parameter integer LANE_W = $clog2(LANES),
    parameter integer SESSION_W = $clog2(NUM_SESSIONS)
) (
    input  wire                   clk,
    input  wire [SESSION_W-1:0]   wr_session,
    input  wire [63:0]            wr_offset,  // stream offset of lane wr_lane
    input  wire [LANE_W-1:0]      wr_lane,    // first lane to write
    input  wire [LANE_W:0]        wr_count,   // lanes to write from wr_lane on
    input  wire [LANES*8-1:0]     wr_data,
    input  wire [SESSION_W-1:0]   rd_session,
    input  wire [63:0]            rd_offset,
    output wire [7:0]             rd_byte     // the byte at last cycle's rd_offset
);
    localparam integer WORD_W = $clog2(HIST_BYTES / LANES);
    localparam integer ADDR_W = SESSION_W + WORD_W;

    wire [7:0] bank_byte [0:LANES-1];
    reg [LANE_W-1:0] rd_bank_reg;
    assign rd_byte = bank_byte[rd_bank_reg];
    always @(posedge clk) rd_bank_reg <= rd_offset[LANE_W-1:0];

    genvar b;
    generate
        for (b = 0; b < LANES; b = b + 1) begin : g_bank
            reg [7:0] mem [0:(1 << ADDR_W) - 1];
            // This bank holds the byte `step` lanes after wr_lane.
            wire [LANE_W-1:0] step = b[LANE_W-1:0] - wr_offset[LANE_W-1:0];
            // Only the word-address bits of the offsets are used.
            /* verilator lint_off UNUSEDSIGNAL */
            wire [63:0] offset = wr_offset + {{(64 - LANE_W) {1'b0}}, step};
            wire [LANE_W-1:0] lane = wr_lane + step;
            wire enable = {1'b0, step} < wr_count;
            wire [ADDR_W-1:0] wr_addr = {wr_session,
                                         offset[LANE_W + WORD_W - 1:LANE_W]};
            wire [63:0] rd_word_offset = rd_offset + {{(64 - LANE_W) {1'b0}},
                                                      b[LANE_W-1:0] - rd_offset[LANE_W-1:0]};
            /* verilator lint_on UNUSEDSIGNAL */
            wire [ADDR_W-1:0] rd_addr = {rd_session,
                                         rd_word_offset[LANE_W + WORD_W - 1:LANE_W]};
            reg [7:0] rd_data_reg, bypass_data_reg;
            reg bypass_reg;
            always @(posedge clk) begin
                if (enable) mem[wr_addr] <= wr_data[lane * 8 +: 8];
                rd_data_reg <= mem[rd_addr];
                // Read-during-write returns the old byte: forward the new one.
                bypass_reg <= enable && wr_addr == rd_addr;
                bypass_data_reg <= wr_data[lane * 8 +: 8];
            end
            assign bank_byte[b] = bypass_reg ? bypass_data_reg : rd_data_reg;
        end
    endgenerate
endmodule

`default_nettype wire
