"""Group endpoints and their update semantics."""

from __future__ import annotations


async def test_create_get_and_members(api) -> None:
    status, group = await api.post(
        "/groups",
        {
            "name": "Friends",
            "members": ["+15550000001", "0015550000002", "15550000001"],
            "auto_update": {"to": "15551231234", "add": {"first_word": "JOIN"}},
        },
    )
    assert status == 201
    assert len(group["id"]) == 26
    assert group["name"] == "Friends"
    assert group["size"] == 2
    assert group["auto_update"] == {"to": "15551231234", "add": {"first_word": "JOIN"}}
    assert group["created_at"].endswith("Z")
    status, got = await api.get(f"/groups/{group['id']}")
    assert (status, got) == (200, group)
    status, members = await api.get(f"/groups/{group['id']}/members")
    assert status == 200
    assert members == ["15550000001", "15550000002"]  # a bare JSON array


async def test_group_validation(api) -> None:
    status, err = await api.post("/groups", {"name": "x" * 21})
    assert (status, err["code"]) == (400, "syntax_constraint_violation")
    status, err = await api.post("/groups", {"members": ["+1"]})
    assert (status, err["code"]) == (400, "syntax_invalid_parameter_format")
    assert "members[0]" in err["text"]
    await api.post("/groups", {"name": "dup"})
    status, err = await api.post("/groups", {"name": "dup"})
    assert (status, err["code"]) == (403, "conflict_group_name")
    status, err = await api.post("/groups", {"child_groups": ["01AAAAAAAAAAAAAAAAAAAAAAAA"]})
    assert (status, err["code"]) == (403, "unknown_group")
    status, _ = await api.get("/groups/01AAAAAAAAAAAAAAAAAAAAAAAA")
    assert status == 404
    status, _ = await api.get("/groups/01AAAAAAAAAAAAAAAAAAAAAAAA/members")
    assert status == 404


async def test_update_semantics(api) -> None:
    _, other = await api.post("/groups", {"members": ["+15550000008", "+15550000009"]})
    _, drop = await api.post("/groups", {"members": ["+15550000002"]})
    _, group = await api.post("/groups", {"name": "g", "members": ["+15550000001", "+15550000002"]})
    gid = group["id"]
    status, g = await api.post(
        f"/groups/{gid}",
        {
            "add": ["+15550000001", "+15550000003", "+15550000004"],  # duplicate ignored
            "remove": ["+15550000004"],  # adds first, then removes
            "add_from_group": other["id"],
            "remove_from_group": drop["id"],
        },
    )
    assert status == 200
    assert g["size"] == 4
    assert g["name"] == "g"  # omitted name is kept
    _, members = await api.get(f"/groups/{gid}/members")
    assert members == ["15550000001", "15550000003", "15550000008", "15550000009"]
    _, g = await api.post(f"/groups/{gid}", {"name": "renamed"})
    assert g["name"] == "renamed"
    _, g = await api.post(f"/groups/{gid}", {"name": None})
    assert "name" not in g
    status, err = await api.post(f"/groups/{gid}", {"add_from_group": "01AAAAAAAAAAAAAAAAAAAAAAAA"})
    assert (status, err["code"]) == (403, "unknown_group")
    await api.post("/groups", {"name": "taken"})
    status, err = await api.post(f"/groups/{gid}", {"name": "taken"})
    assert (status, err["code"]) == (403, "conflict_group_name")
    status, _ = await api.post("/groups/01AAAAAAAAAAAAAAAAAAAAAAAA", {"add": []})
    assert status == 404


async def test_replace_and_delete(api) -> None:
    _, group = await api.post("/groups", {"name": "g", "members": ["+15550000001"]})
    gid = group["id"]
    status, g = await api.put(f"/groups/{gid}", {"members": ["+15550000005"]})
    assert status == 200
    assert "name" not in g
    assert g["size"] == 1
    _, members = await api.get(f"/groups/{gid}/members")
    assert members == ["15550000005"]
    status, body = await api.delete(f"/groups/{gid}")
    assert (status, body) == (200, "")
    status, _ = await api.get(f"/groups/{gid}")
    assert status == 404
    status, _ = await api.delete(f"/groups/{gid}")
    assert status == 404


async def test_list_groups_paged_newest_first(api) -> None:
    ids = [(await api.post("/groups", {"name": f"g{i}"}))[1]["id"] for i in range(3)]
    _, p0 = await api.get("/groups", page_size=2)
    assert (p0["count"], p0["page"], p0["page_size"]) == (3, 0, 2)
    assert [g["id"] for g in p0["groups"]] == [ids[2], ids[1]]
    _, p1 = await api.get("/groups", page=1, page_size=2)
    assert [g["id"] for g in p1["groups"]] == [ids[0]]
    assert p1["page_size"] == 1
