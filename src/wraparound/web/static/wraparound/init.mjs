// Start NHS.UK frontend components (header menu, error summary, skip link...).
import { initAll } from "../nhsuk/nhsuk-frontend.min.js";

initAll();
