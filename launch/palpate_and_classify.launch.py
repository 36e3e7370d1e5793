"""Palpate and classify: the DIGIT camera, the UR palpation node and the material classifier.

    ros2 launch tactile_material_ros palpate_and_classify.launch.py [use_sim:=true] [robot_ip:=IP]
        [digit_serial:=SERIAL] [model:=PATH] [trigger:=press] [scene:=PATH] [namespace:=NS]
        [params_file:=PATH] [use_sim_time:=false] [launch_rviz:=false] [mount_x:=0.0] ... [mount_yaw:=0.0]
        [record:=false] [bag_dir:=bags]

The nodes, their namespace, parameter files, parameters and remappings come from
``tactile_material_ros.graph`` (bringup reads the same description). Every node of this package
is required: when one exits, the launch shuts down (``on_exit=Shutdown``), as bringup does.
The helpers of graph.py (tf2_ros' static_transform_publisher for the sensor's mount on the
tool flange, rviz2 with ``launch_rviz:=true``) and robot_state_publisher (with ur_description,
so rviz shows the arm from ``joint_states``) are added where those packages are installed.
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from tactile_material_ros import graph


def node_actions(context: object) -> list:
    """The graph's nodes for the launch arguments as given (OpaqueFunction: values are resolved here)."""
    arguments = {name: LaunchConfiguration(name).perform(context) for name in graph.ARGUMENTS}
    actions = [
        Node(
            package=graph.PACKAGE,
            executable=spec.executable,
            name=spec.name,
            namespace=spec.namespace,
            parameters=[*(str(path) for path in spec.parameter_files), dict(spec.parameters)],
            remappings=list(spec.remappings),
            output="screen",
            emulate_tty=True,
            on_exit=Shutdown(reason=f"{spec.name} exited: the graph cannot run without it") if spec.required
            else None,
        )
        for spec in graph.build_graph(arguments)
    ]
    helpers = [
        Node(package=helper.package, executable=helper.executable, name=helper.name, namespace=helper.namespace,
             arguments=list(helper.arguments), parameters=[dict(helper.parameters)], output="screen")
        for helper in graph.helper_nodes(arguments) if installed(helper.package)
    ]
    return actions + helpers + robot_state_publisher(graph.parse_namespace(arguments["namespace"]))


def installed(package: str) -> bool:
    """Whether the ament index has this package (False where there is no ament index at all)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        get_package_share_directory(package)
    except (ImportError, LookupError, ValueError, OSError):
        return False
    return True


def robot_state_publisher(namespace: str) -> list:
    """robot_state_publisher with the UR10 description, where both packages are installed; else nothing."""
    description = graph.ROBOT_DESCRIPTION
    if not (installed("robot_state_publisher") and installed(description.package)):
        return []
    from ament_index_python.packages import get_package_share_directory
    from launch.substitutions import Command, FindExecutable
    from launch_ros.parameter_descriptions import ParameterValue

    xacro_path = f"{get_package_share_directory(description.package)}/{description.xacro_file}"
    xacro = [FindExecutable(name="xacro"), " ", xacro_path]
    for name, value in description.xacro_arguments:
        xacro += [" ", f"{name}:={value}"]
    return [Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        namespace=namespace,
        parameters=[{"robot_description": ParameterValue(Command(xacro), value_type=str)}],
        output="screen",
    )]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=arg.default, description=arg.description)
                for name, arg in graph.ARGUMENTS.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=node_actions)])
