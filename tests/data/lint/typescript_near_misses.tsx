// Near misses: none of these may be flagged.
import { execSync } from "child_process";

const version = execSync("git describe", { timeout: 5_000 }).toString();
export const Banner = (): JSX.Element => <div title={version}>{version}</div>;
