// qf_peer: a QuickFIX C++ counterparty for Gapless's interoperability tests.
//
// One session, acceptor or initiator, FIX.4.2, FIX.4.4 or FIXT.1.1 (FIX.5.0SP2 application
// messages). After logon it can stream N application messages (--send N), answer each
// NewOrderSingle with an ExecutionReport (--echo), and record every application message it
// receives (--record FILE), checking that the identifiers arrive exactly once and in order.
// With --store DIR the session's sequence numbers and sent messages live in a QuickFIX FileStore,
// so a peer killed with SIGKILL and started again with the same options resumes where it was;
// the record file is read back on start so the check spans both runs.
//
// QuickFIX advances its incoming sequence number only after fromApp returns, so a kill between
// the two makes it ask for that message again, which then comes with PossDupFlag=Y: QuickFIX
// delivers at least once. Like a real application, the recorder keeps the MsgSeqNum of the last
// message it recorded (the record line holds it) and counts such a resend as `redelivered`
// instead of recording it twice. --work-us makes each message take longer to process after it is
// recorded, as a real application would, which is also where a kill causes a redelivery.
//
// It is a test peer, not a trading application: it sends one kind of message with made-up
// values and validates nothing beyond what QuickFIX does with UseDataDictionary=N.
#include "peer_common.h"

#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/SocketInitiator.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_set>

namespace {

using namespace gapless_qf;

// Checks that the identifiers 1, 2, 3, ... of received messages arrive exactly once and in order.
class OrderCheck {
public:
  void add(uint64_t id) {
    ++received_;
    if (id == 0) { // no numeric identifier: the order cannot be checked
      in_order_ = false;
      return;
    }
    if (!seen_.insert(id).second) {
      ++duplicates_;
      return;
    }
    if (id != highest_ + 1) in_order_ = false;
    if (id > highest_) highest_ = id;
  }

  uint64_t received() const { return received_; }
  uint64_t duplicates() const { return duplicates_; }
  // Identifiers below the highest one received that never arrived.
  uint64_t gaps() const { return highest_ - seen_.size(); }
  bool in_order() const { return in_order_ && gaps() == 0; }

private:
  std::unordered_set<uint64_t> seen_;
  uint64_t highest_ = 0;
  uint64_t received_ = 0;
  uint64_t duplicates_ = 0;
  bool in_order_ = true;
};

// Receives application messages: records them, checks their identifiers and echoes orders.
class PeerApplication : public FIX::Application {
public:
  PeerApplication(const std::string& record_path, bool echo, const std::string& version, uint64_t work_us)
      : echo_(echo), version_(version), work_(std::chrono::microseconds(work_us)) {
    if (record_path.empty()) return;
    replay_record(record_path);
    record_ = std::fopen(record_path.c_str(), "a");
    if (!record_) throw std::runtime_error("cannot open record file " + record_path);
  }

  ~PeerApplication() override {
    if (record_) std::fclose(record_);
  }

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID&) override { logged_on_ = true; }
  void onLogout(const FIX::SessionID& session_id) override {
    logged_on_ = false;
    // An initiator reconnects and (with ResetOnLogon) resets its numbers after a logout, so the
    // summary reports them as they were when the last session ended.
    if (FIX::Session* session = FIX::Session::lookupSession(session_id)) {
      std::lock_guard<std::mutex> lock(mutex_);
      numbers_at_logout_ = {session->getExpectedSenderNum(), session->getExpectedTargetNum()};
    }
  }
  void toAdmin(FIX::Message& message, const FIX::SessionID&) override { note_reset(message); }
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
  void fromAdmin(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) override {
    note_reset(message);
  }

  void fromApp(const FIX::Message& message, const FIX::SessionID& session_id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::UnsupportedMessageType) override {
    const std::string type = message.getHeader().getField(FIX::FIELD::MsgType);
    const std::string seq = message.getHeader().getField(FIX::FIELD::MsgSeqNum);
    const int id_tag = identifier_tag(type);
    const std::string id = id_tag && message.isSetField(id_tag) ? message.getField(id_tag) : "";
    const bool poss_dup = message.getHeader().isSetField(FIX::FIELD::PossDupFlag) &&
                          message.getHeader().getField(FIX::FIELD::PossDupFlag) == "Y";
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const uint64_t seq_number = std::strtoull(seq.c_str(), nullptr, 10);
      if (poss_dup && seq_number <= recorded_seq_) {
        ++redelivered_;
        // Recorded before this peer was killed. With --echo, an answer not yet sent at the kill
        // is lost: recording and answering are not one atomic step.
        return;
      }
      recorded_seq_ = seq_number;
      if (record_) {
        std::fprintf(record_, "34=%s 35=%s %d=%s\n", seq.c_str(), type.c_str(), id_tag, id.c_str());
        std::fflush(record_);
      }
      check_.add(id_number(id));
      received_.store(check_.received(), std::memory_order_release);
    }
    if (echo_ && type == FIX::MsgType_NewOrderSingle) {
      FIX::Message report = execution_report(id_number(id), id, version_);
      FIX::Session::sendToTarget(report, session_id);
    }
    if (work_.count()) std::this_thread::sleep_for(work_);
  }

  bool logged_on() const { return logged_on_; }
  uint64_t received() const { return received_.load(std::memory_order_acquire); }

  std::string summary() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::ostringstream out;
    out << "received=" << check_.received() << " in_order=" << (check_.in_order() ? "true" : "false")
        << " duplicates=" << check_.duplicates() << " gaps=" << check_.gaps();
    return out.str();
  }

  // Next sender and target MsgSeqNum when the last session ended, or {0, 0} before any.
  std::pair<int, int> numbers_at_logout() {
    std::lock_guard<std::mutex> lock(mutex_);
    return numbers_at_logout_;
  }

  uint64_t redelivered() {
    std::lock_guard<std::mutex> lock(mutex_);
    return redelivered_;
  }

private:
  // The field that numbers a message kind: ClOrdID for orders, ExecID for execution reports.
  static int identifier_tag(const std::string& type) {
    if (type == FIX::MsgType_NewOrderSingle) return FIX::FIELD::ClOrdID;
    if (type == FIX::MsgType_ExecutionReport) return FIX::FIELD::ExecID;
    return 0;
  }

  // A Logon with ResetSeqNumFlag=Y, either way, starts the numbers again at 1.
  void note_reset(const FIX::Message& message) {
    const FIX::FieldMap& header = message.getHeader();
    if (header.getField(FIX::FIELD::MsgType) == FIX::MsgType_Logon &&
        message.isSetField(FIX::FIELD::ResetSeqNumFlag) && message.getField(FIX::FIELD::ResetSeqNumFlag) == "Y") {
      std::lock_guard<std::mutex> lock(mutex_);
      recorded_seq_ = 0;
    }
  }

  // Feeds an earlier run's record file ("34=<seq> 35=<type> <tag>=<id>" lines) to the check.
  void replay_record(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const size_t last_field = line.rfind(' ');
      const size_t equals = line.find('=', last_field == std::string::npos ? 0 : last_field);
      check_.add(equals == std::string::npos ? 0 : id_number(line.substr(equals + 1)));
      recorded_seq_ = line.compare(0, 3, "34=") == 0 ? std::strtoull(line.c_str() + 3, nullptr, 10) : 0;
    }
    received_.store(check_.received());
  }

  const bool echo_;
  const std::string version_;
  const std::chrono::microseconds work_; // application work per message, after recording it
  std::FILE* record_ = nullptr;
  std::mutex mutex_;
  OrderCheck check_;
  uint64_t recorded_seq_ = 0; // MsgSeqNum of the last message recorded
  uint64_t redelivered_ = 0;
  std::pair<int, int> numbers_at_logout_{0, 0};
  std::atomic<uint64_t> received_{0};
  std::atomic<bool> logged_on_{false};
};

// Streams messages 1..count of one kind; a message QuickFIX refuses (not logged on, with
// ResetOnLogon) is sent again after the next logon. Returns how many were sent.
uint64_t stream(FIX::Session& session, PeerApplication& app, const std::string& kind, uint64_t count,
                const std::string& version) {
  uint64_t n = 1;
  while (n <= count) {
    FIX::Message message = kind == "order" ? new_order_single(n) : execution_report(n, "", version);
    if (session.send(message)) {
      ++n;
      continue;
    }
    if (app.logged_on()) std::this_thread::yield();
    while (!app.logged_on()) {
      if (stop_requested(10)) return n - 1;
    }
  }
  return count;
}

template <typename Connector>
int run(const Options& options) {
  FIX::SessionID session_id;
  const std::string role = options.str("role");
  FIX::SessionSettings settings = session_settings(options, role, session_id);
  const std::string kind = options.str("send-kind").empty() ? (role == "initiator" ? "order" : "exec")
                                                             : options.str("send-kind");
  if (kind != "order" && kind != "exec") throw std::invalid_argument("--send-kind takes order or exec");
  const uint64_t to_send = options.number("send");
  const uint64_t exit_after = options.number("exit-after-received");

  PeerApplication app(options.str("record"), options.flag("echo"), options.str("version"),
                      options.number("work-us"));
  std::unique_ptr<FIX::MessageStoreFactory> store;
  if (options.str("store").empty()) {
    store.reset(new FIX::MemoryStoreFactory());
  } else {
    store.reset(new FIX::FileStoreFactory(settings));
  }
  Connector connector(app, *store, settings);
  connector.start();
  FIX::Session* session = connector.getSession(session_id);
  if (!session) throw std::runtime_error("QuickFIX created no session");

  bool stop = false;
  uint64_t sent = 0;
  if (to_send) {
    while (!app.logged_on() && !stop) stop = stop_requested(10);
    if (!stop) sent = stream(*session, app, kind, to_send, options.str("version"));
    std::cout << "sent=" << sent << std::endl;
  }
  while (!stop && !(exit_after && app.received() >= exit_after)) stop = stop_requested(10);

  connector.stop(); // logs out, waiting up to the logout timeout for the answer
  std::pair<int, int> numbers = app.numbers_at_logout();
  if (numbers.first == 0) numbers = {session->getExpectedSenderNum(), session->getExpectedTargetNum()};
  std::cout << app.summary() << " next_sender_seq=" << numbers.first << " next_target_seq=" << numbers.second
            << " redelivered=" << app.redelivered() << std::endl;
  return 0;
}

const char* const usage =
    "usage: qf_peer --role acceptor|initiator [--version FIX.4.2|FIX.4.4|FIXT.1.1] [--port P]\n"
    "               [--host H] [--sender ID] [--target ID] [--store DIR] [--heartbeat S]\n"
    "               [--reset-on-logon Y|N] [--send N] [--send-kind order|exec] [--echo]\n"
    "               [--record FILE] [--exit-after-received N] [--work-us US]\n";

} // namespace

int main(int argc, char** argv) {
  block_stop_signals();
  try {
    std::string role;
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--role") role = argv[i + 1];
    std::map<std::string, std::string> defaults = session_option_defaults(role);
    defaults.insert({{"role", role}, {"send", "0"}, {"send-kind", ""}, {"record", ""}, {"exit-after-received", "0"}, {"work-us", "0"}});
    const Options options(argc, argv, defaults, {{"echo", true}});
    if (options.str("role") == "acceptor") return run<FIX::SocketAcceptor>(options);
    return run<FIX::SocketInitiator>(options);
  } catch (const std::invalid_argument& e) {
    std::cerr << "qf_peer: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "qf_peer: " << e.what() << std::endl;
    return 1;
  }
}
