`default_nettype none

// A small synchronous FIFO for verdict descriptors: absorbs the cycles where the consumer is not
// ready, so the parser stalls only when it is (nearly) full. `level` is registered state only:
// it does not depend on m_ready in the same cycle.
module fix_desc_fifo #(
    parameter integer WIDTH = 512,
    parameter integer DEPTH = 4,
    // Derived width.
    parameter integer PTR_W = $clog2(DEPTH)
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             push,
    input  wire [WIDTH-1:0] push_data,
    output wire [PTR_W:0]   level,       // entries held
    output wire             m_valid,
    input  wire             m_ready,
    output wire [WIDTH-1:0] m_data
);

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [PTR_W-1:0] rd_ptr_reg, wr_ptr_reg;
    reg [PTR_W:0]   count_reg;

    wire pop = m_valid && m_ready;

    assign level = count_reg;
    assign m_valid = count_reg != {(PTR_W + 1){1'b0}};
    assign m_data = mem[rd_ptr_reg];

    always @(posedge clk) begin
        if (rst) begin
            rd_ptr_reg <= {PTR_W{1'b0}};
            wr_ptr_reg <= {PTR_W{1'b0}};
            count_reg <= {(PTR_W + 1){1'b0}};
        end else begin
            if (push) begin
                mem[wr_ptr_reg] <= push_data;
                wr_ptr_reg <= wr_ptr_reg + 1'b1;
            end
            if (pop) rd_ptr_reg <= rd_ptr_reg + 1'b1;
            if (push && !pop) count_reg <= count_reg + 1'b1;
            else if (pop && !push) count_reg <= count_reg - 1'b1;
        end
    end
endmodule

`default_nettype wire
