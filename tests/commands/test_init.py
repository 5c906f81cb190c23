"""`wta init` on repositories of three shapes, laid out file for file like public ones: a
FastAPI + React template, a Next.js app with husky hooks, a Python library. docs/zones.md
shows what it writes for each (a test keeps that page in step)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support import ROOT, git, wta, write_files
from worktree_agents.config import load


def _files(*groups: tuple[str, list[str]]) -> list[str]:
    return [f"{prefix}{name}" for prefix, names in groups for name in names]


# The full-stack FastAPI template's layout: a backend, a frontend, CI, compose files, a
# copier hook, deployment scripts, screenshots for the README and root markdown.
FASTAPI_REACT = _files(
    ("", [".env", ".gitattributes", ".gitignore", ".pre-commit-config.yaml", "CONTRIBUTING.md", "LICENSE",
          "README.md", "SECURITY.md", "compose.override.yml", "compose.traefik.yml", "compose.yml", "copier.yml",
          "deployment.md", "development.md", "release-notes.md"]),
    (".copier/", [".copier-answers.yml.jinja", "update_dotenv.py"]),
    (".github/", ["FUNDING.yml", "dependabot.yml", "labeler.yml", "DISCUSSION_TEMPLATE/questions.yml",
                  "ISSUE_TEMPLATE/config.yml", "ISSUE_TEMPLATE/privileged.yml"]),
    (".github/workflows/", ["add-to-project.yml", "deploy-production.yml", "deploy-staging.yml",
                            "generate-client.yml", "issue-manager.yml", "labeler.yml", "latest-changes.yml",
                            "lint-backend.yml", "playwright.yml", "smokeshow.yml", "test-backend.yml",
                            "test-docker-compose.yml"]),
    (".vscode/", ["launch.json"]),
    ("backend/", [".dockerignore", ".gitignore", "Dockerfile", "README.md", "alembic.ini", "pyproject.toml",
                  "uv.lock", "scripts/format.sh", "scripts/lint.sh", "scripts/prestart.sh", "scripts/test.sh"]),
    ("backend/app/", ["__init__.py", "backend_pre_start.py", "crud.py", "initial_data.py", "main.py", "models.py",
                      "utils.py", "alembic/README", "alembic/env.py", "alembic/script.py.mako",
                      "alembic/versions/e2412789c190_initialize_models.py", "api/__init__.py", "api/deps.py",
                      "api/main.py", "api/routes/__init__.py", "api/routes/items.py", "api/routes/login.py",
                      "api/routes/private.py", "api/routes/users.py", "api/routes/utils.py", "core/__init__.py",
                      "core/config.py", "core/db.py", "core/security.py", "email-templates/src/new_account.mjml",
                      "email-templates/src/reset_password.mjml", "tests/conftest.py", "tests/api/routes/test_items.py",
                      "tests/api/routes/test_login.py", "tests/api/routes/test_users.py", "tests/crud/test_user.py",
                      "tests/utils/item.py", "tests/utils/user.py", "tests/utils/utils.py"]),
    ("frontend/", [".dockerignore", ".env", ".gitignore", ".nvmrc", "Dockerfile", "Dockerfile.playwright",
                   "README.md", "biome.json", "index.html", "nginx.conf", "openapi-ts.config.ts", "package-lock.json",
                   "package.json", "playwright.config.ts", "tsconfig.json", "tsconfig.node.json", "vite.config.ts",
                   "public/assets/images/fastapi-logo.svg", "public/assets/images/favicon.png"]),
    ("frontend/src/", ["main.tsx", "routeTree.gen.ts", "theme.tsx", "vite-env.d.ts", "utils.ts",
                       "client/index.ts", "client/schemas.gen.ts", "client/sdk.gen.ts", "client/types.gen.ts",
                       "components/Admin/AddUser.tsx", "components/Admin/EditUser.tsx", "components/Common/Navbar.tsx",
                       "components/Common/Sidebar.tsx", "components/Items/AddItem.tsx", "components/Items/EditItem.tsx",
                       "hooks/useAuth.ts", "hooks/useCustomToast.ts", "routes/__root.tsx", "routes/_layout.tsx",
                       "routes/_layout/admin.tsx", "routes/_layout/items.tsx", "routes/login.tsx", "routes/signup.tsx"]),
    ("frontend/tests/", ["auth.setup.ts", "login.spec.ts", "sign-up.spec.ts", "user-settings.spec.ts"]),
    ("hooks/", ["post_gen_project.py"]),
    ("img/", ["dashboard-create.png", "dashboard-dark.png", "dashboard-items.png", "dashboard-user-settings.png",
              "dashboard.png", "docs.png", "github-social-preview.png", "login.png", "redoc.png"]),
    ("scripts/", ["build-push.sh", "build.sh", "deploy.sh", "generate-client.sh", "test-local.sh", "test.sh"]),
)

# A Next.js app (App Router under src/) with husky hooks, Prisma and Playwright.
NEXTJS = _files(
    ("", [".eslintrc.json", ".gitignore", ".prettierrc", "README.md", "next-env.d.ts", "next.config.mjs",
          "package-lock.json", "package.json", "playwright.config.ts", "postcss.config.mjs", "tailwind.config.ts",
          "tsconfig.json"]),
    (".github/workflows/", ["ci.yml", "e2e.yml"]),
    (".husky/", ["commit-msg", "pre-commit"]),
    ("prisma/", ["schema.prisma", "seed.ts", "migrations/migration_lock.toml",
                 "migrations/20240101000000_init/migration.sql", "migrations/20240301000000_posts/migration.sql"]),
    ("public/", ["favicon.ico", "next.svg", "vercel.svg"]),
    ("src/app/", ["favicon.ico", "globals.css", "layout.tsx", "page.tsx", "api/auth/[...nextauth]/route.ts",
                  "api/posts/route.ts", "api/posts/[id]/route.ts", "blog/page.tsx", "blog/[slug]/page.tsx",
                  "dashboard/layout.tsx", "dashboard/page.tsx", "dashboard/settings/page.tsx",
                  "(marketing)/about/page.tsx", "(marketing)/pricing/page.tsx"]),
    ("src/components/", ["Footer.tsx", "Header.tsx", "Nav.tsx", "PostCard.tsx", "ui/button.tsx", "ui/card.tsx",
                         "ui/dialog.tsx", "ui/input.tsx"]),
    ("src/lib/", ["auth.ts", "db.ts", "utils.ts"]),
    ("src/hooks/", ["use-user.ts"]),
    ("src/", ["middleware.ts"]),
    ("tests/e2e/", ["auth.spec.ts", "blog.spec.ts", "dashboard.spec.ts", "home.spec.ts", "posts.spec.ts"]),
)

# A Python library with a src layout, Sphinx docs, tox and a benchmark script.
PYTHON_LIBRARY = _files(
    ("", [".gitignore", ".pre-commit-config.yaml", ".readthedocs.yaml", "CHANGELOG.md", "CONTRIBUTING.md",
          "LICENSE", "README.md", "noxfile.py", "pyproject.toml", "tox.ini"]),
    (".github/", ["dependabot.yml", "workflows/ci.yml", "workflows/release.yml"]),
    ("bench/", ["bench_parse.py"]),
    ("docs/", ["Makefile", "conf.py", "index.rst", "api.rst", "changelog.rst", "_static/logo.png"]),
    ("src/tinyhttp/", ["__init__.py", "_compat.py", "client.py", "exceptions.py", "models.py", "py.typed",
                       "utils.py", "adapters/__init__.py", "adapters/http.py", "adapters/mock.py"]),
    ("tests/", ["conftest.py", "test_client.py", "test_models.py", "test_utils.py", "data/response.json"]),
)

SHAPES = {"fastapi-react": FASTAPI_REACT, "nextjs": NEXTJS, "python-library": PYTHON_LIBRARY}


def repository(tmp_path: Path, files: list[str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, {path: f"# {path}\n" for path in files})  # a comment: .gitignore ignores nothing
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def init(tmp_path: Path, files: list[str]) -> tuple[Path, dict, str]:
    repo = repository(tmp_path, files)
    wta(repo, "init", check=0)
    text = (repo / "zones.yaml").read_text()
    config = load(repo / "zones.yaml", repo_root=repo)
    return repo, {name: list(s.paths) for name, s in config.streams.items()}, text


def ownership(repo: Path) -> dict:
    return json.loads(wta(repo, "zones", "--json", check=0).stdout)


def test_the_fastapi_template_gets_code_streams_infra_and_docs_and_leaves_nothing_unowned(tmp_path):
    repo, streams, text = init(tmp_path, FASTAPI_REACT)
    assert list(streams) == ["frontend", "backend", "infra", "docs"]  # no stream for img/ or hooks/
    assert {"/*", "!/*/", "/.github/**", "/hooks/**", "/scripts/**", "/.copier/**",
            "/.vscode/**"} <= set(streams["infra"])
    assert streams["docs"] == ["/img/**", "/*.md", "/LICENSE"]
    zones = ownership(repo)
    assert zones["unowned"] == [] and zones["overlaps"] == [] and zones["problems"] == []
    assert {s["name"]: s["files"] for s in zones["streams"]}["docs"] == 9 + 6 + 1


def test_a_nextjs_app_folds_its_small_folders_into_a_neighbour(tmp_path):
    repo, streams, text = init(tmp_path, NEXTJS)
    assert list(streams) == ["app", "components", "prisma", "tests", "infra", "docs"]
    assert streams["app"] == ["/src/app/**", "/src/lib/**", "/src/hooks/**", "/public/**"]
    assert streams["infra"][-5:] == ["/src/**", "!/src/app/**", "!/src/components/**", "!/src/lib/**",
                                     "!/src/hooks/**"]   # src/middleware.ts, and the folders to come
    assert {"/*", "!/*/", "/.husky/**", "/.github/**"} <= set(streams["infra"])
    assert streams["docs"] == ["/*.md"]
    assert ownership(repo)["unowned"] == []
    comment = re.search(r"^  # (.*)\n  app:", text, re.M).group(1)
    assert "src/lib/" in comment and "public/" in comment and "too small for a stream of their own" in comment


def test_a_monorepo_gives_each_package_its_own_zone_and_the_rest_of_packages_to_infra(tmp_path):
    """The largest package's stream was given the rest of packages/ (`/packages/**` less the others): its agent,
    told to work on packages/a/, owned every package added later and the files shared by all of them."""
    files = [*(f"packages/{p}/src/f{i}.ts" for p in "abc" for i in range(6 - "abc".index(p))),
             *(f"packages/{p}/package.json" for p in "abcd"), "packages/tsconfig.base.json", "package.json",
             "README.md"]
    repo, streams, text = init(tmp_path, files)
    assert streams["a"] == ["/packages/a/**", "/packages/d/**"] and streams["b"] == ["/packages/b/**"] and \
        streams["c"] == ["/packages/c/**"], text   # (d: too small for a stream, with the largest)
    assert streams["infra"][-5:] == ["/packages/**", "!/packages/a/**", "!/packages/b/**", "!/packages/c/**",
                                     "!/packages/d/**"]
    assert "with the rest of packages/: its own files and the folders added to it" in text
    checked = wta(repo, "zones", check=0)
    assert checked.stderr == "", checked.stderr   # no pattern that matches nothing
    zones = ownership(repo)
    assert zones["unowned"] == [] and zones["overlaps"] == [] and zones["problems"] == [] and zones["warnings"] == []
    assert {s["name"]: s["files"] for s in zones["streams"]} == {"a": 8, "b": 6, "c": 5, "infra": 2, "docs": 1}
    assert {path: _owner(repo, path) for path in ("packages/e/package.json", "packages/tsconfig.json",
                                                  "packages/a/src/new.ts", "packages/d/index.ts")} == \
        {"packages/e/package.json": "infra", "packages/tsconfig.json": "infra", "packages/a/src/new.ts": "a",
         "packages/d/index.ts": "a"}


def test_a_python_library_gets_its_package_tests_infra_and_docs(tmp_path):
    repo, streams, text = init(tmp_path, PYTHON_LIBRARY)
    assert list(streams) == ["tinyhttp", "tests", "infra", "docs"]
    assert "/bench/**" in streams["tinyhttp"]
    assert {"/*", "!/*/", "/.github/**"} <= set(streams["infra"])
    assert streams["docs"] == ["/docs/**", "/*.md", "/LICENSE"]
    assert ownership(repo)["unowned"] == []


@pytest.mark.parametrize("shape", SHAPES)
def test_every_stream_says_why_it_exists_and_docs_zones_md_shows_the_output(tmp_path, shape):
    repo, streams, text = init(tmp_path, SHAPES[shape])
    lines = text.splitlines()
    for name in streams:
        above = lines[lines.index(f"  {name}:") - 1]
        assert above.startswith("  # ") and len(above) > 20, f"stream {name} has no comment saying why"
    page = (ROOT / "docs" / "zones.md").read_text()
    assert f"```yaml\n# wta init: {shape}\n{text}```" in page, \
        f"docs/zones.md does not show what `wta init` writes for {shape}; paste it:\n{text}"


def test_init_never_writes_through_a_link_and_says_what_is_in_the_way(tmp_path):
    repo = repository(tmp_path, ["src/api/app.py", "src/ui/page.tsx"])
    outside = tmp_path / "outside.yaml"
    (repo / "zones.yaml").symlink_to(outside)   # a link to nothing
    refused = wta(repo, "init", check=2)
    assert refused.stderr == f"wta: {repo / 'zones.yaml'}: already exists; edit it, or pass --force to overwrite it\n"
    wta(repo, "init", "--force", check=0)
    assert not outside.exists() and not (repo / "zones.yaml").is_symlink()
    assert "streams:" in (repo / "zones.yaml").read_text()

    (repo / "zones.yaml").unlink()
    (repo / "zones.yaml").mkdir()
    in_the_way = wta(repo, "init", "--force", check=2)
    assert in_the_way.stderr == f"wta: {repo / 'zones.yaml'}: is a directory; move it away, then run `wta init` again\n"


def test_init_on_a_detached_head_names_a_branch_that_exists(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "feature")
    write_files(repo, {"src/api/app.py": "# app\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "checkout", "-q", "--detach")
    done = wta(repo, "init", check=0)
    assert "then commit it on 'feature'" in done.stdout
    assert "base: feature\n" in (repo / "zones.yaml").read_text()


def test_a_name_ending_in_a_space_is_owned_by_the_pattern_init_writes_for_it(tmp_path):
    """gitignore patterns drop trailing spaces unless escaped: `/root ` had owned nothing, leaving that
    file unowned while the comment above it counted it."""
    repo, streams, text = init(tmp_path, ["tools /a.py", "src/app.py", "README.md"])
    assert any(p.startswith("/tools\\ ") for ps in streams.values() for p in ps), streams
    zones = ownership(repo)
    assert zones["unowned"] == [] and zones["problems"] == []
    assert wta(repo, "explain", "tools /a.py", check=0).stdout.split(":")[1].split()[0] != "unowned"


def _owner(repo: Path, path: str) -> str:
    """The stream `wta explain` names for a path (which need not exist), or `unowned`."""
    return wta(repo, "explain", path, check=0).stdout.split(":", 1)[1].split()[0]


# Shapes whose new files had no owner: a file a person adds next to the others must have the owner they expect.
NEW_FILES = {
    "go-module-at-the-top-level": (
        ["README.md", "LICENSE", "go.mod", "go.sum", ".gitignore", "client.go", "client_test.go", "server.go",
         "server_test.go", "options.go", "errors.go", "codec.go"],
        {"retry.go": "repo", "Makefile": "infra", "NOTES.md": "docs", "LICENSE": "docs", "go.mod": "infra"}),
    "files-directly-in-src-and-a-small-folder": (
        [*(f"src/f{i}.c" for i in range(20)), "src/utils/u.c", "src/utils/v.c", "README.md"],
        {"src/f20.c": "src", "src/utils/w.c": "src", "src/net/http.c": "src"}),
    "node-monorepo": (
        [*(f"packages/{p}/f{i}.ts" for p in "abcde" for i in range(5)),
         *(f"apps/{a}/f{i}.ts" for a in ("web", "docs") for i in range(6)), "package.json", ".npmrc", "README.md"],
        {"packages/newpkg/package.json": "infra", "apps/mobile/package.json": "infra", "apps/docs/f9.ts": "apps-docs",
         ".prettierrc": "infra", "vitest.config.ts": "infra", "CHANGELOG.md": "docs"}),
    "a-github-action-with-its-built-dist": (
        ["action.yml", "package.json", "README.md", *(f"src/m{i}.ts" for i in range(5)), "dist/index.js"],
        {"dist/index.js": "src", "src/new.ts": "src"}),
    "a-licences-folder-beside-licence-files": (   # /LICENSE* and /*.md had claimed LICENSES/ and spec.md/ too
        ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "LICENSES/MIT.txt", "LICENSES/Apache-2.0.txt",
         *(f"src/m{i}.rs" for i in range(5)), "Cargo.toml", "spec.md/x.txt"],
        {"LICENSE-BSD": "docs", "LICENSES/new.txt": "docs", "spec.md/y.txt": "src", "NEWS.md": "docs"}),
    "names-beyond-ascii": (
        [*(f"données/f{i}.txt" for i in range(5)), *(f"ドキュメント/f{i}.txt" for i in range(5)), "README.md"],
        {"données/new.txt": "donnees", "ドキュメント/new.txt": "code"}),
}


@pytest.mark.parametrize("shape", NEW_FILES)
def test_a_file_added_where_others_are_has_the_owner_a_person_expects(tmp_path, shape):
    """Top-level files were listed one by one, a container's own files one pattern each, and a container's
    members each on their own: a new module, package or config file there was unowned, and `unowned:
    deny` refused every commit that added one."""
    files, expected = NEW_FILES[shape]
    repo, streams, text = init(tmp_path, files)
    zones = ownership(repo)
    assert zones["unowned"] == [] and zones["overlaps"] == [] and zones["problems"] == [], zones
    assert all(s["files"] for s in zones["streams"]), zones   # and no stream that owns no tracked file
    assert {path: _owner(repo, path) for path in expected} == expected, text


def test_a_folder_named_with_control_characters_gets_a_valid_file_and_an_escaped_comment(tmp_path):
    """A newline or DEL in a folder's name went raw into a comment (or a string), and init failed on the
    file it had written itself, blaming its indentation."""
    repo, streams, text = init(tmp_path, [*(f"odd\nname/f{i}.txt" for i in range(5)),
                                          *(f"del\x7fname/f{i}.txt" for i in range(5)), "README.md"])
    assert "# everything under odd\\nname/" in text and "\x7f" not in text
    assert ownership(repo)["unowned"] == []


def test_init_in_a_repository_with_no_tracked_file_is_refused_in_one_line(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    refused = wta(repo, "init", check=2)
    assert refused.stderr.count("\n") == 1 and "no file is tracked yet" in refused.stderr
    assert not (repo / "zones.yaml").exists()


CODE = {f"src/app/m{i}.py": "x = 1\n" for i in range(6)} | {f"tests/test_{i}.py": "def test(): pass\n"
                                                             for i in range(6)}
MAKE_TEST = "VERBOSE := 1\n.PHONY: lint test\nlint:\n\truff check .\n\ntest: lint  ## run the tests\n\tpytest -q\n"
PYPROJECT_PYTEST = "[project]\nname = \"x\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n"
TEST_COMMANDS = {   # shape: the files at the top level, the `test:` command and where it was found
    # The Makefile's target first, though pytest is configured too: the project chose it as its entry point.
    "makefile-test-target": ({"Makefile": MAKE_TEST, "pyproject.toml": PYPROJECT_PYTEST},
                             ("make test", "the Makefile's test target")),
    "makefile-without-one": ({"Makefile": ".PHONY: test\ntest := x\nbuild:\n\tcc -o app main.c\n# test: later\n",
                              "pyproject.toml": PYPROJECT_PYTEST},
                             ("pytest", "pytest's configuration in pyproject.toml")),
    "package-json-script": ({"package.json": json.dumps({"scripts": {"test": "vitest run"}}), "pnpm-lock.yaml": "\n"},
                            ("pnpm test", "package.json's test script")),
    "npm-init-placeholder": ({"package.json": json.dumps({"scripts": {"test": "echo \"Error: no test specified\" "
                                                                               "&& exit 1"}})}, None),
    "go-module": ({"go.mod": "module example.com/x\n\ngo 1.22\n"}, ("go test ./...", "go.mod")),
    "nothing-detected": ({"pyproject.toml": "[project]\nname = \"x\"\n"}, None),
}


@pytest.mark.parametrize("shape", TEST_COMMANDS)
def test_init_writes_the_test_command_a_project_runs_its_tests_with(tmp_path, shape):
    """A repository whose Makefile has a `test:` target had got no `test:` key (no command was detected at all),
    so `wta merge` landed streams untested. The Makefile's target is found first, then the language's runner."""
    root_files, expected = TEST_COMMANDS[shape]
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, CODE | root_files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    wta(repo, "init", check=0)
    lines = (repo / "zones.yaml").read_text().splitlines()
    written = [f"{'test: ' + expected[0]:<24} # run by wta merge after each rebase ({expected[1]})"] if expected else []
    assert [line for line in lines if line.startswith("test")] == written
    assert load(repo / "zones.yaml", repo_root=repo).test == (expected[0] if expected else None)
    wta(repo, "zones", check=0)


def _package(where: str, manifest: str, source: str) -> list[str]:
    return [f"{where}/{manifest}", *(f"{where}/src/m{i}.{source}" for i in range(5))]


# Monorepos whose top level leaves no file to infra: each package is a stream's, and the top level holds
# nothing else, or only what other streams claim (the root markdown, the code at the top level).
NO_FILE_FOR_INFRA = {
    "packages-alone": [*_package("packages/a", "package.json", "ts"), *_package("packages/b", "pyproject.toml", "py")],
    "packages-and-the-root-markdown": [*_package("packages/a", "package.json", "ts"),
                                       *_package("packages/b", "Cargo.toml", "rs"), "README.md", "LICENSE"],
    "packages-beside-code-at-the-top-level": [*_package("packages/a", "package.json", "ts"),
                                              *_package("packages/b", "go.mod", "go"),
                                              *(f"tool{i}.py" for i in range(5)), "README.md"],
}


@pytest.mark.parametrize("shape", NO_FILE_FOR_INFRA)
def test_init_writes_no_stream_that_owns_no_file_and_up_starts_no_session_for_one(tmp_path, shape):
    """A monorepo whose top level is the packages' (and the docs') alone had got an `infra` stream holding no
    tracked file (its zone: the top level's other files and the rest of packages/, of which there were none),
    and `wta up` started a session for it with nothing to work on."""
    repo = repository(tmp_path, NO_FILE_FOR_INFRA[shape])
    done = wta(repo, "init", check=0)
    zones = ownership(repo)
    files = {s["name"]: s["files"] for s in zones["streams"]}
    assert "infra" not in files and all(files.values()), files   # no stream that owns no tracked file
    assert {"a", "b"} <= set(files) and zones["unowned"] == [] and zones["overlaps"] == [], zones
    assert zones["warnings"] == [] and zones["problems"] == [], zones
    assert done.stdout.splitlines()[1:] == [   # what is left without an owner, said in a line and in the file
        "no infra stream: no tracked file is left for it; a file added at the top level or in packages/ that no "
        "zone claims stays unowned until you give it a zone"]
    text = (repo / "zones.yaml").read_text()
    assert text.endswith(f"  # {done.stdout.splitlines()[1]}\n")
    assert _owner(repo, "packages/c/package.json") == "unowned"

    # Committed as it is, with an agent that does nothing: a session for each stream, and none other.
    (repo / "zones.yaml").write_text(text.replace("  runner: claude ", '  command: "true"\n  runner: command '))
    git(repo, "add", "zones.yaml")
    git(repo, "commit", "-q", "-m", "zones")
    assert ownership(repo)["streams"] == zones["streams"]   # (zones.yaml, tracked now, is no stream's)
    up = wta(repo, "up", check=0)
    assert sorted(line.split(":")[0] for line in up.stdout.splitlines() if line.endswith(": done")) == sorted(files)
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/wta/").stdout.split()
    assert sorted(branches) == sorted(f"wta/{name}" for name in files)


def test_infra_is_written_as_soon_as_one_file_is_left_for_it(tmp_path):
    """The other side of the rule above: a .gitignore or a CI workflow at the top level is infra's, and with it
    infra takes the rest of packages/ as before. (Without them there was an infra stream owning nothing.)"""
    repo = repository(tmp_path, NO_FILE_FOR_INFRA["packages-alone"])
    wta(repo, "init", check=0)
    assert "infra" not in load(repo / "zones.yaml", repo_root=repo).streams
    write_files(repo, {".gitignore": "# nothing\n", ".github/workflows/ci.yml": "# ci\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "ci")
    done = wta(repo, "init", "--force", check=0)
    assert len(done.stdout.splitlines()) == 1 and "no infra stream" not in (repo / "zones.yaml").read_text()
    assert {s["name"]: s["files"] for s in ownership(repo)["streams"]}["infra"] == 2
    assert {path: _owner(repo, path) for path in (".gitignore", "packages/c/package.json", "Makefile")} == \
        {".gitignore": "infra", "packages/c/package.json": "infra", "Makefile": "infra"}
