"""The offline demo: a sample web app, four scripted agents, a refused edit, a merge.

The agents are scripted turns served by `fake_anthropic` on 127.0.0.1 and run
by the real `api` runner, so every edit goes through the same guard, hooks,
supervisor and merge as a real session; only the model is a script.
"""

from __future__ import annotations

from worktree_agents.fake_anthropic import text, tool_use

ZONES = """\
# The demo's zones: four streams, one web app.
version: 1
base: main
read_only: [docs/specs/**]
test: sh scripts/check.sh
max_parallel: 2
agent:
  runner: api
  model: claude-sonnet-4-6
  max_turns: 8
  timeout: 5m
streams:
  infra:
    paths: [ai-agents/**, "!ai-agents/memory/**", /package.json, /tsconfig.json, /.env.example, scripts/**]
    prompt: Add input validation (zod) to the project's dependencies.
  api:
    paths: [src/app/api/**, src/lib/**]
    after: [infra]
    prompt: Add GET /api/schedule as docs/specs/schedule.md describes.
  ui:
    paths: [src/components/**, src/app/page.tsx, src/app/layout.tsx, tailwind.config.ts]
    prompt: Show the schedule on the home page.
  monitor:
    paths: [ai-agents/memory/**]
    append_only: true
    prompt: Record today's decisions in the agents' memory.
"""

FILES = {
    "README.md": "# schedule\n\nA small web app that shows a class schedule.\n",
    "package.json": '{\n  "name": "schedule",\n  "private": true,\n  "dependencies": {\n'
                    '    "next": "15.0.0"\n  }\n}\n',
    "tsconfig.json": '{ "compilerOptions": { "strict": true } }\n',
    ".env.example": "DATABASE_URL=postgres://localhost/schedule\n",
    "tailwind.config.ts": "export default { content: ['./src/**/*.tsx'] }\n",
    "scripts/check.sh": "#!/bin/sh\n# The demo's test: no conflict markers, package.json still names its deps.\n"
                        "! grep -rn '^<<<<<<<' src package.json && grep -q dependencies package.json\n",
    "src/app/page.tsx": "export default function Home() {\n  return <main>Schedule</main>\n}\n",
    "src/app/layout.tsx": "export default function Layout({ children }) {\n  return <html><body>{children}"
                          "</body></html>\n}\n",
    "src/app/api/health/route.ts": "export const GET = () => Response.json({ ok: true })\n",
    "src/lib/db.ts": "export const db = { lessons: [] as { day: string; title: string }[] }\n",
    "src/components/Button.tsx": "export const Button = ({ label }) => <button>{label}</button>\n",
    "docs/specs/schedule.md": "# GET /api/schedule\n\nReturns the week's lessons as JSON: "
                              "`[{day, title}]`.\n",
    "ai-agents/setup.md": "# Agents\n\nEach stream works in its own worktree; see zones.yaml.\n",
    "ai-agents/memory/decisions.md": "# Decisions\n\n- Next.js app router for pages and API routes.\n",
}

ROUTE = ("import { lessons } from '@/lib/schedule'\n\n"
         "export const GET = () => Response.json(lessons())\n")
LIB = ("import { db } from './db'\n\n"
       "export const lessons = () => db.lessons.toSorted((a, b) => a.day.localeCompare(b.day))\n")
COMPONENT = ("export function Schedule({ lessons }) {\n"
             "  return <ul>{lessons.map((l) => <li key={l.day + l.title}>{l.day}: {l.title}</li>)}</ul>\n}\n")
STOLEN_PATH = "src/app/api/schedule/route.ts"


def scripts() -> dict[str, list[list[dict]]]:
    """Each stream's scripted turns (the fake routes on the heading of its zone rules)."""
    return {
        "infra": [
            [text("Adding zod."), tool_use("edit_file", {"path": "package.json", "old_string": '"next": "15.0.0"',
                                                           "new_string": '"next": "15.0.0",\n    "zod": "3.23.8"'})],
            [tool_use("commit", {"message": "add zod for request validation"})],
            [text("Added zod to package.json and committed.")],
        ],
        "api": [
            [tool_use("read_file", {"path": "docs/specs/schedule.md"})],
            [tool_use("write_file", {"path": "src/lib/schedule.ts", "content": LIB}),
             tool_use("write_file", {"path": "src/app/api/schedule/route.ts", "content": ROUTE})],
            [tool_use("commit", {"message": "add GET /api/schedule"})],
            [text("GET /api/schedule returns the lessons sorted by day.")],
        ],
        "ui": [
            # The UI agent first tries to write the API route itself: the guard refuses.
            [text("I need the route too."),
             tool_use("write_file", {"path": STOLEN_PATH, "content": "export const GET = () => Response.json([])\n"})],
            [tool_use("request", {"stream": "api", "text": "add GET /api/schedule for the home page"})],
            [tool_use("write_file", {"path": "src/components/Schedule.tsx", "content": COMPONENT})],
            [tool_use("commit", {"message": "add the Schedule component"})],
            [text("Added <Schedule>; asked api for the route.")],
        ],
        "monitor": [
            [tool_use("edit_file", {"path": "ai-agents/memory/decisions.md",
                                    "old_string": "- Next.js app router for pages and API routes.\n",
                                    "new_string": "- Next.js app router for pages and API routes.\n"
                                                  "- zod validates API input (infra).\n"})],
            [tool_use("commit", {"message": "record the validation decision"})],
            [text("Memory updated.")],
        ],
    }
