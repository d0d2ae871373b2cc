#include "registry/actions/actions.h"

#include <algorithm>

#include "registry/core/utf8.h"

namespace iotreg::actions {

Status act_on_flags(storage::Storage& storage, const FlagActionRequest& request) {
  using enforcement::OfficerAction;
  if (request.flag_ids.empty()) return Status::invalid_argument("name at least one flag");
  std::vector<std::int64_t> sorted = request.flag_ids;
  std::sort(sorted.begin(), sorted.end());
  if (auto repeated = std::adjacent_find(sorted.begin(), sorted.end()); repeated != sorted.end()) {
    return Status::invalid_argument("flag " + std::to_string(*repeated) + " is named twice");
  }
  const auto blank = request.reason.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank)
    return Status::invalid_argument("reason must say why (it is recorded in the audit log)");
  if (request.reason.size() > kMaxReasonBytes) {
    return Status::invalid_argument("reason is longer than " + std::to_string(kMaxReasonBytes) +
                                    " bytes");
  }
  if (auto problem = text_problem(request.reason); !problem.empty()) {
    return Status::invalid_argument("the reason " + problem);
  }
  if (!request.notice.empty()) {
    if (request.action != OfficerAction::kConfirm) {
      return Status::invalid_argument("a notice reference goes with confirm only");
    }
    if (request.notice.size() > kMaxNoticeBytes) {
      return Status::invalid_argument("the notice reference is longer than " +
                                      std::to_string(kMaxNoticeBytes) + " bytes");
    }
    if (auto problem = text_problem(request.notice); !problem.empty()) {
      return Status::invalid_argument("the notice reference " + problem);
    }
  }
  auto begun = storage.begin_flag_action(request.actor);
  if (!begun.is_ok()) return begun.status();
  std::unique_ptr<storage::FlagActionSession> session = std::move(begun).value();
  for (std::int64_t flag_id : request.flag_ids) {
    storage::FlagActionSession::Transition transition;
    auto flag = session->flag(flag_id, transition.product_id, transition.version_id);
    if (!flag.is_ok()) return flag.status();  // nothing is written: the session rolls back
    auto to = enforcement::officer_transition(flag_id, flag->state, request.action);
    if (!to.is_ok()) return to.status();
    transition.flag_id = flag_id;
    transition.from = flag->state;
    transition.to = to.value();
    transition.action = "flag." + std::string(enforcement::action_name(request.action));
    transition.reason = request.reason;
    transition.notice = request.notice;
    IOTREG_TRY(session->write(transition));
  }
  return session->commit();
}

}  // namespace iotreg::actions
