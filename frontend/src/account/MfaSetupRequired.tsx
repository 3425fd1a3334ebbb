import { useCallback } from "react";

import { ApiClient, MfaStatus } from "../api/client";
import SecondFactor from "./SecondFactor";

type Props = {
  api: ApiClient;
  username: string;
  sensitive: <T>(action: () => Promise<T>) => Promise<T>;
  /** A factor is set up: everything works again. */
  onDone: () => void | Promise<void>;
};

/**
 * What a staff user sees while `mfa.required_for_staff` asks them for a
 * second factor: why, and the setup itself (the only thing that works).
 */
export default function MfaSetupRequired({ api, username, sensitive, onDone }: Props) {
  const onStatus = useCallback(
    (s: MfaStatus) => {
      if (s.methods.length > 0) void onDone();
    },
    [onDone],
  );
  return (
    <div data-testid="mfa-setup-required" style={{ maxWidth: 720 }}>
      <h1 className="h3 mb-3">Set up a second factor</h1>
      <div className="alert alert-warning" role="status">
        <strong>{username}</strong> is a staff account, and this site requires staff to prove a second factor at
        sign-in. Set up an authenticator app or a passkey to continue: nothing else works until then.
      </div>
      <SecondFactor api={api} sensitive={sensitive} onStatus={onStatus} />
    </div>
  );
}
