"""Read MariaDB's innodb_snapshot_isolation the way SeaTable connects (Python 3).

Runs inside dtable-web's seatable-server container, the script text on stdin
(docker exec -i seatable-server python3 -, by hostscripts/mariadb.sh): the
container's environment already holds SeaTable's connection settings,
SEATABLE_MYSQL_DB_HOST, _PORT, _USER and _PASSWORD, so the password never
leaves the container and is never printed.

Prints one line, parsed by pure/plan/node-facts.ts:
  mariadb-snapshot-isolation ON|OFF|absent VERSION
      absent: the server has no such variable (MySQL, or a MariaDB before
      its May 2024 releases, 10.11.8 and 11.0.6 among them: MDEV-32898);
      the behaviour it switches did not exist there.
  mariadb-unchecked REASON
      no driver, no connection, or a query that failed.

SeaTable's components bring their own MySQL driver: MySQLdb (mysqlclient,
Django's) or PyMySQL; whichever the image has is used.
"""
import os


def connect():
    host = os.environ.get("SEATABLE_MYSQL_DB_HOST", "")
    port = int(os.environ.get("SEATABLE_MYSQL_DB_PORT", "3306"))
    user = os.environ.get("SEATABLE_MYSQL_DB_USER", "")
    password = os.environ.get("SEATABLE_MYSQL_DB_PASSWORD", "")
    try:
        import MySQLdb

        return MySQLdb.connect(host=host, port=port, user=user, passwd=password, connect_timeout=5, read_timeout=5)
    except ImportError:
        pass
    try:
        import pymysql

        return pymysql.connect(host=host, port=port, user=user, password=password, connect_timeout=5, read_timeout=5)
    except ImportError:
        raise RuntimeError("neither MySQLdb nor PyMySQL is installed in the container") from None


def one_line(text):
    return " ".join(str(text).split())


def main():
    try:
        connection = connect()
    except RuntimeError as e:
        print("mariadb-unchecked %s" % one_line(e))
        return
    except Exception as e:  # the driver's own error: refused, denied, unknown host
        print("mariadb-unchecked cannot connect to %s:%s as %s: %s" % (
            os.environ.get("SEATABLE_MYSQL_DB_HOST", ""), os.environ.get("SEATABLE_MYSQL_DB_PORT", "3306"),
            os.environ.get("SEATABLE_MYSQL_DB_USER", ""), one_line(e)))
        return
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT VERSION()")
        version = one_line(cursor.fetchone()[0])
        cursor.execute("SHOW GLOBAL VARIABLES LIKE 'innodb\\_snapshot\\_isolation'")
        row = cursor.fetchone()
        if row is None:
            state = "absent"
        else:
            state = "ON" if str(row[1]).upper() in ("ON", "1") else "OFF"
        print("mariadb-snapshot-isolation %s %s" % (state, version))
    except Exception as e:
        print("mariadb-unchecked the query failed: %s" % one_line(e))
    finally:
        connection.close()


if __name__ == "__main__":
    main()
