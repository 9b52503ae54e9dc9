`default_nettype none

// Synthesis-only wrapper for timing: the checker's ports are far wider than any package, so
// they are driven from shift registers fed by one pin and folded into a few output pins. The
// registers on both sides keep the pins out of the checker's paths. The parameters pass through
// to the checker, so that a reduced configuration can be timed quickly (scripts/hw-timing.sh).
module timing_harness #(
    parameter integer DATA_W = 64,
    parameter integer NUM_SESSIONS = 4,
    parameter integer HIST_BYTES = 65536
) (
    input  wire clk,
    input  wire rst,
    input  wire serial_in,
    output reg  [3:0] folded_out
);
    localparam integer LANES = DATA_W / 8;
    localparam integer IN_W = DATA_W + LANES + 1 + 16 + 1 + 128 + 1 + 1;
    localparam integer KEEP = DATA_W;
    localparam integer LAST = KEEP + LANES;
    localparam integer USER = LAST + 1;
    localparam integer VALID = USER + 16;
    localparam integer CMD = VALID + 1;
    localparam integer CMD_VALID = CMD + 128;
    localparam integer READY = CMD_VALID + 1;

    reg [IN_W-1:0] in_shift_reg;
    always @(posedge clk) in_shift_reg <= {in_shift_reg[IN_W-2:0], serial_in};

    wire s_tready, cmd_ready, m_desc_valid;
    wire [511:0] m_desc_data;
    fix_seqcheck #(.DATA_W(DATA_W), .NUM_SESSIONS(NUM_SESSIONS), .HIST_BYTES(HIST_BYTES)) checker (
        .clk(clk), .rst(rst),
        .s_tdata(in_shift_reg[DATA_W-1:0]), .s_tkeep(in_shift_reg[KEEP +: LANES]),
        .s_tlast(in_shift_reg[LAST]), .s_tuser(in_shift_reg[USER +: 16]),
        .s_tvalid(in_shift_reg[VALID]), .s_tready(s_tready),
        .cmd_data(in_shift_reg[CMD +: 128]), .cmd_valid(in_shift_reg[CMD_VALID]),
        .cmd_ready(cmd_ready), .m_desc_data(m_desc_data), .m_desc_valid(m_desc_valid),
        .m_desc_ready(in_shift_reg[READY])
    );

    always @(posedge clk) begin
        folded_out <= {^m_desc_data[511:256], ^m_desc_data[255:0], m_desc_valid,
                       s_tready ^ cmd_ready};
    end
endmodule

`default_nettype wire
