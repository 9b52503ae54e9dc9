// What qf_peer and qf_bench share: command-line options, session settings built in code,
// the two application messages they exchange, and signal handling.
//
// Both programs speak to QuickFIX C++ 1.15.1 (Debian libquickfix-dev) and are Gapless's
// counterparties in interoperability tests and benchmarks. They are not FIX engines of their
// own: sequencing, resends and persistence are QuickFIX's.
#pragma once

#include <quickfix/Message.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/Values.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>

namespace gapless_qf {

// `--name value` pairs and bare `--flag`s, with the names each program accepts.
class Options {
public:
  // `flags` are names without a value; every other accepted name takes one.
  Options(int argc, char** argv, const std::map<std::string, std::string>& defaults,
          const std::map<std::string, bool>& flags)
      : values_(defaults) {
    for (int i = 1; i < argc; ++i) {
      std::string name = argv[i];
      if (name.compare(0, 2, "--") != 0) throw std::invalid_argument("unexpected argument " + name);
      name = name.substr(2);
      if (flags.count(name)) {
        values_[name] = "true";
      } else if (defaults.count(name)) {
        if (i + 1 >= argc) throw std::invalid_argument("--" + name + " needs a value");
        values_[name] = argv[++i];
      } else {
        throw std::invalid_argument("unknown option --" + name);
      }
    }
  }

  const std::string& str(const std::string& name) const { return values_.at(name); }
  bool flag(const std::string& name) const { return values_.count(name) && values_.at(name) == "true"; }

  uint64_t number(const std::string& name) const {
    const std::string& text = str(name);
    size_t end = 0;
    unsigned long long value = 0;
    try {
      value = std::stoull(text, &end);
    } catch (const std::exception&) {
      end = 0;
    }
    if (text.empty() || end != text.size()) throw std::invalid_argument("--" + name + " takes a number, not '" + text + "'");
    return value;
  }

private:
  std::map<std::string, std::string> values_;
};

// The option names and defaults of one session in `role`, shared by both programs.
inline std::map<std::string, std::string> session_option_defaults(const std::string& role) {
  return {
      {"version", "FIX.4.4"},   {"host", "127.0.0.1"},
      {"port", "9876"},         {"sender", role == "acceptor" ? "VENUE" : "CLIENT"},
      {"target", role == "acceptor" ? "CLIENT" : "VENUE"},
      {"store", ""},            {"heartbeat", "30"},    {"reset-on-logon", "Y"},
  };
}

// Settings for exactly one session in `role`, built from the options. The dictionary is off
// (UseDataDictionary=N) so that one program speaks every version without its XML files.
inline FIX::SessionSettings session_settings(const Options& options, const std::string& role,
                                             FIX::SessionID& session_id) {
  const std::string& version = options.str("version");
  const bool fixt = version == "FIXT.1.1";
  if (version != "FIX.4.2" && version != "FIX.4.4" && !fixt)
    throw std::invalid_argument("--version takes FIX.4.2, FIX.4.4 or FIXT.1.1");
  if (role != "acceptor" && role != "initiator") throw std::invalid_argument("--role takes acceptor or initiator");
  const std::string& reset = options.str("reset-on-logon");
  if (reset != "Y" && reset != "N") throw std::invalid_argument("--reset-on-logon takes Y or N");

  FIX::Dictionary session;
  session.setString(FIX::CONNECTION_TYPE, role);
  session.setString(FIX::START_TIME, "00:00:00");
  session.setString(FIX::END_TIME, "00:00:00"); // equal times: the session never ends by schedule
  session.setInt(FIX::HEARTBTINT, static_cast<int>(options.number("heartbeat")));
  session.setString("ResetOnLogon", reset);
  session.setString(FIX::USE_DATA_DICTIONARY, "N");
  session.setString(FIX::SOCKET_NODELAY, "Y");
  session.setString(FIX::SOCKET_REUSE_ADDRESS, "Y");
  if (fixt) session.setString(FIX::DEFAULT_APPLVERID, "FIX.5.0SP2");
  if (role == "acceptor") {
    session.setInt(FIX::SOCKET_ACCEPT_PORT, static_cast<int>(options.number("port")));
  } else {
    session.setString(FIX::SOCKET_CONNECT_HOST, options.str("host"));
    session.setInt(FIX::SOCKET_CONNECT_PORT, static_cast<int>(options.number("port")));
    session.setInt(FIX::RECONNECT_INTERVAL, 1);
  }
  if (!options.str("store").empty()) session.setString(FIX::FILE_STORE_PATH, options.str("store"));

  session_id = FIX::SessionID(version, options.str("sender"), options.str("target"));
  FIX::SessionSettings settings;
  // The socket initiator reads ReconnectInterval and its socket options from the defaults only.
  settings.set(session);
  settings.set(session_id, session);
  return settings;
}

// ClOrdID of order n: "O<n>".
inline std::string order_id(uint64_t n) { return "O" + std::to_string(n); }

// The n of an identifier "O<n>" or "<n>"; 0 when it has no such form.
inline uint64_t id_number(const std::string& id) {
  size_t start = (!id.empty() && id[0] == 'O') ? 1 : 0;
  if (start >= id.size() || id.size() - start > 19) return 0;
  uint64_t n = 0;
  for (size_t i = start; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(id[i] - '0');
  }
  return n;
}

// A limit NewOrderSingle with ClOrdID "O<n>", carrying the fields FIX.4.2 to 5.0SP2 require.
inline FIX::Message new_order_single(uint64_t n) {
  FIX::Message order;
  order.getHeader().setField(FIX::MsgType(FIX::MsgType_NewOrderSingle));
  order.setField(FIX::ClOrdID(order_id(n)));
  order.setField(FIX::HandlInst(FIX::HandlInst_AUTOMATED_EXECUTION_ORDER_PRIVATE_NO_BROKER_INTERVENTION));
  order.setField(FIX::Symbol("GAPL"));
  order.setField(FIX::Side(FIX::Side_BUY));
  order.setField(FIX::TransactTime());
  order.setField(FIX::OrderQty(100));
  order.setField(FIX::OrdType(FIX::OrdType_LIMIT));
  order.setField(FIX::Price(101.25));
  return order;
}

// An ExecutionReport acknowledging an order (OrdStatus New) with ExecID "<n>", echoing `clordid`
// when there is one. FIX.4.2 still requires ExecTransType.
inline FIX::Message execution_report(uint64_t n, const std::string& clordid, const std::string& version) {
  FIX::Message report;
  report.getHeader().setField(FIX::MsgType(FIX::MsgType_ExecutionReport));
  report.setField(FIX::OrderID("V" + std::to_string(n)));
  report.setField(FIX::ExecID(std::to_string(n)));
  if (!clordid.empty()) report.setField(FIX::ClOrdID(clordid));
  if (version == "FIX.4.2") report.setField(FIX::ExecTransType(FIX::ExecTransType_NEW));
  report.setField(FIX::ExecType(FIX::ExecType_NEW));
  report.setField(FIX::OrdStatus(FIX::OrdStatus_NEW));
  report.setField(FIX::Symbol("GAPL"));
  report.setField(FIX::Side(FIX::Side_BUY));
  report.setField(FIX::OrderQty(100));
  report.setField(FIX::LeavesQty(100));
  report.setField(FIX::CumQty(0));
  report.setField(FIX::AvgPx(0));
  return report;
}

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that the main
// thread alone takes them with `stop_requested`.
inline void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Waits up to `millis` for SIGINT or SIGTERM; true when one arrived.
inline bool stop_requested(long millis) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec timeout{millis / 1000, (millis % 1000) * 1000000L};
  return sigtimedwait(&set, nullptr, &timeout) > 0;
}

} // namespace gapless_qf
