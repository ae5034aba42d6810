#!/usr/bin/python3
"""Idempotent Keystone user/catalog edits for the scripts in this folder.

One process does all the calls (the openstack CLI costs ~1.5 s per call).
Admin credentials come from the usual OS_* variables (lib.sh admin_env).

  keystone-catalog.py user PROJECT USER PASSWORD ROLE[,ROLE...]
                                         # ensure project, user, roles (roles
                                         # are created when missing)
  keystone-catalog.py endpoint TYPE NAME URL REGION
                                         # public/internal/admin = URL
  keystone-catalog.py remove TYPE        # delete service TYPE + endpoints
  keystone-catalog.py list               # print the catalog
"""
import os
import sys

from keystoneauth1 import loading, session
from keystoneclient.v3 import client as ks_client


def admin_client():
    loader = loading.get_plugin_loader('password')
    auth = loader.load_from_options(
        auth_url=os.environ['OS_AUTH_URL'],
        username=os.environ['OS_USERNAME'],
        password=os.environ['OS_PASSWORD'],
        project_name=os.environ['OS_PROJECT_NAME'],
        user_domain_name=os.environ.get('OS_USER_DOMAIN_NAME', 'Default'),
        project_domain_name=os.environ.get('OS_PROJECT_DOMAIN_NAME',
                                           'Default'))
    return ks_client.Client(session=session.Session(auth=auth),
                            interface='public')


def ensure_role(ks, name):
    found = ks.roles.list(name=name)
    return found[0] if found else ks.roles.create(name)


def ensure_user(ks, project, user, password, roles):
    projects = ks.projects.list(name=project, domain='default')
    proj = projects[0] if projects else ks.projects.create(
        project, domain='default', description='created by imago scripts')
    users = ks.users.list(name=user, domain='default')
    if users:
        # Never re-set the password: Keystone revokes a user's tokens on a
        # password change, which would break a running service's token.
        usr = users[0]
    else:
        usr = ks.users.create(user, domain='default', password=password,
                              default_project=proj)
    for role in roles.split(','):
        ks.roles.grant(ensure_role(ks, role), user=usr, project=proj)
    print('user %s in project %s has roles %s' % (user, project, roles))


def endpoint(ks, stype, name, url, region):
    if region not in [r.id for r in ks.regions.list()]:
        ks.regions.create(id=region)
    services = list(ks.services.list(type=stype))
    svc = services[0] if services else ks.services.create(
        name=name, type=stype, description='%s (imago scripts)' % name)
    if svc.name != name:
        svc = ks.services.update(svc, name=name)
    for extra in services[1:]:
        ks.services.delete(extra)
    existing = ks.endpoints.list(service=svc)
    for iface in ('public', 'internal', 'admin'):
        mine = [e for e in existing if e.interface == iface]
        if mine and mine[0].url == url and mine[0].region == region:
            keep = mine[0]
        elif mine:
            keep = ks.endpoints.update(mine[0], url=url, region=region,
                                       enabled=True)
        else:
            keep = ks.endpoints.create(svc, url, interface=iface,
                                       region=region)
        for dup in mine[1:]:
            ks.endpoints.delete(dup)
        print('%-15s %-8s %s' % (stype, iface, keep.url))


def remove(ks, stype):
    for svc in ks.services.list(type=stype):
        for ep in ks.endpoints.list(service=svc):
            ks.endpoints.delete(ep)
        ks.services.delete(svc)
        print('removed service %s (%s)' % (svc.name, stype))


def list_catalog(ks):
    services = {s.id: s for s in ks.services.list()}
    for ep in sorted(ks.endpoints.list(),
                     key=lambda e: (services[e.service_id].type, e.interface)):
        s = services[ep.service_id]
        print('%-16s %-10s %-8s %-10s %s' % (s.type, s.name, ep.interface,
                                            ep.region, ep.url))


def main(argv):
    if not argv:
        sys.exit(__doc__)
    ks = admin_client()
    cmd, args = argv[0], argv[1:]
    if cmd == 'user' and len(args) == 4:
        ensure_user(ks, *args)
    elif cmd == 'endpoint' and len(args) == 4:
        endpoint(ks, *args)
    elif cmd == 'remove' and len(args) == 1:
        remove(ks, *args)
    elif cmd == 'list' and not args:
        list_catalog(ks)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
