`default_nettype none

// Synthesis-only wrapper for timing: the checker's ports are far wider than any package, so
// they are driven from shift registers fed by one pin and folded into a few output pins. The
// registers on both sides keep the pins out of the checker's paths.
module timing_harness (
    input  wire clk,
    input  wire rst,
    input  wire serial_in,
    output reg  [3:0] folded_out
);
    localparam integer IN_W = 64 + 8 + 1 + 16 + 1 + 128 + 1 + 1;

    reg [IN_W-1:0] in_shift_reg;
    always @(posedge clk) in_shift_reg <= {in_shift_reg[IN_W-2:0], serial_in};

    wire s_tready, cmd_ready, m_desc_valid;
    wire [511:0] m_desc_data;
    fix_seqcheck checker (
        .clk(clk), .rst(rst),
        .s_tdata(in_shift_reg[63:0]), .s_tkeep(in_shift_reg[71:64]), .s_tlast(in_shift_reg[72]),
        .s_tuser(in_shift_reg[88:73]), .s_tvalid(in_shift_reg[89]), .s_tready(s_tready),
        .cmd_data(in_shift_reg[217:90]), .cmd_valid(in_shift_reg[218]), .cmd_ready(cmd_ready),
        .m_desc_data(m_desc_data), .m_desc_valid(m_desc_valid),
        .m_desc_ready(in_shift_reg[219])
    );

    always @(posedge clk) begin
        folded_out <= {^m_desc_data[511:256], ^m_desc_data[255:0], m_desc_valid,
                       s_tready ^ cmd_ready};
    end
endmodule

`default_nettype wire
