import "bootstrap/dist/css/bootstrap.min.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import App from "./App";
import { clientFromEnv } from "./api/client";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App api={clientFromEnv()} />
  </StrictMode>,
);
