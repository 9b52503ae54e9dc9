`default_nettype none

// The verdict of one framed (or garbled) message against its session's registers, in the
// precedence of gapless_seqcheck: Garbled, Invalid, Diverted, SequenceReset, Gap, Duplicate,
// InOrder. Combinational; the top level writes the registers back.
module fix_verdict (
    input  wire        garbled,
    input  wire [2:0]  msg_class,
    input  wire        poss_dup,
    input  wire        gap_fill,
    input  wire        seq_ok,
    input  wire [63:0] seq,
    input  wire [63:0] new_seq,
    input  wire        armed,
    input  wire [63:0] expected,
    output reg  [7:0]  verdict,
    output reg  [7:0]  flags,
    output reg  [7:0]  class_code,
    output reg  [63:0] seq_out,
    output reg  [63:0] new_seq_out,
    output reg         armed_next,
    output reg  [63:0] expected_next
);
    localparam [7:0] IN_ORDER = 8'd1, GAP = 8'd2, DUPLICATE = 8'd3, SEQUENCE_RESET = 8'd4,
                     DIVERTED = 8'd5, INVALID = 8'd6, GARBLED = 8'd7;
    localparam [2:0] CLASS_SEQUENCE_RESET = 3'd5, CLASS_LOGOUT = 3'd6, CLASS_LOGON = 3'd7;

    always @* begin
        armed_next = armed;
        expected_next = expected;
        seq_out = 64'd0;
        new_seq_out = 64'd0;
        if (garbled) begin
            verdict = GARBLED;
            flags = 8'd0;
            class_code = 8'hff;
        end else begin
            class_code = {5'd0, msg_class};
            flags = {5'd0, gap_fill, msg_class != 3'd0, poss_dup};
            // NewSeqNo is reported for SequenceReset only, so only it can move expected.
            if (msg_class == CLASS_SEQUENCE_RESET) new_seq_out = new_seq;
            if (!seq_ok) verdict = INVALID;
            else begin
                seq_out = seq;
                if (!armed) verdict = DIVERTED;
                else if (msg_class == CLASS_SEQUENCE_RESET && !gap_fill) begin
                    verdict = SEQUENCE_RESET;
                    armed_next = 1'b0;
                end else if (seq > expected) begin
                    verdict = GAP;
                    armed_next = 1'b0;
                end else if (seq < expected) verdict = DUPLICATE;
                else begin
                    verdict = IN_ORDER;
                    // Saturating, as the software checker: a peer may send 2^64-1.
                    expected_next = (gap_fill && new_seq_out > seq) ? new_seq_out
                                  : (&seq) ? seq : seq + 64'd1;
                    // Logon and Logout can change what comes next: the session decides.
                    if (msg_class == CLASS_LOGON || msg_class == CLASS_LOGOUT) armed_next = 1'b0;
                end
            end
        end
    end
endmodule

`default_nettype wire
