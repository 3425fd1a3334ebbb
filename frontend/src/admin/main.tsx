import "bootstrap/dist/css/bootstrap.min.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";

import AdminApp from "./AdminApp";
import { adminClient } from "./api";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter basename="/admin">
      <AdminApp api={adminClient()} />
    </BrowserRouter>
  </StrictMode>,
);
